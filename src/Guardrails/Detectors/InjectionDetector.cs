using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;

namespace Gateway.Grpc.Guardrails.Detectors;

/// <summary>
/// Prompt injection, scored. Each signal has a weight (how sure it alone is); the text's score is
/// 1 - prod(1 - w) over the signals found, and when it reaches <see cref="Threshold"/> every
/// signal is reported under its family's rule:
/// <list type="bullet">
/// <item><c>injection.ignore_instructions</c>: "ignore/disregard/forget ... previous/your/system ... instructions" and kin (0.9);
/// "from now on you will", "new instructions:" (0.4).</item>
/// <item><c>injection.prompt_leak</c>: asking for the system prompt or "your instructions" (0.6).</item>
/// <item><c>injection.roleplay</c>: jailbreak personas and markers: DAN / "do anything now" (0.8), pretend/act as
/// ... without restrictions (0.8), "developer mode" (0.6), "no longer bound by" (0.7), "jailbreak" (0.4), unfiltered/uncensored (0.3).</item>
/// <item><c>injection.hidden_text</c>: Unicode tag characters (0.9), bidi overrides (0.6), zero-width characters
/// inside words (0.3 each run, 0.7 from three); emoji joiners are not counted. The phrase checks also run on the text
/// with the hidden characters removed, so "ig\u200Bnore previous instructions" is still an instruction.</item>
/// <item><c>injection.base64</c>: a base64 run that decodes to readable text which itself scores as an injection (0.9).</item>
/// </list>
/// Phrases are only looked for in prose: "ignore" in code (<c>// ignore previous value</c>,
/// <c>.gitignore</c>) does not carry an instruction noun and so never scores.
/// </summary>
public sealed partial class InjectionDetector : IGuardrailDetector
{
    public const string IgnoreInstructions = "injection.ignore_instructions";
    public const string PromptLeak = "injection.prompt_leak";
    public const string Roleplay = "injection.roleplay";
    public const string HiddenText = "injection.hidden_text";
    public const string Base64 = "injection.base64";

    private static readonly string[] AllRules = [IgnoreInstructions, PromptLeak, Roleplay, HiddenText, Base64];

    private static readonly SearchValues<char> Hidden = SearchValues.Create("\u200B\u200C\u200D\u2060\u2061\u2062\u2063\u2064\uFEFF\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u00AD\uDB40");

    /// <summary>Score at which the signals are reported (default 0.5: one strong signal, or two weak ones).</summary>
    public double Threshold { get; init; } = 0.5;

    public IReadOnlyList<string> Rules => AllRules;

    public void Detect(string text, List<Finding> findings)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(findings);
        var signals = new List<(Finding Finding, double Weight)>();
        Score(text, signals, depth: 0);
        if (signals.Count == 0)
        {
            return;
        }

        var keep = 1.0;
        foreach (var (_, weight) in signals)
        {
            keep *= 1 - weight;
        }

        if (1 - keep >= Threshold)
        {
            foreach (var (finding, _) in signals)
            {
                findings.Add(finding);
            }
        }
    }

    /// <summary>The text's score on its own (tests and tuning).</summary>
    public static double ScoreOf(string text)
    {
        var signals = new List<(Finding, double Weight)>();
        Score(text, signals, 0);
        var keep = 1.0;
        foreach (var (_, weight) in signals)
        {
            keep *= 1 - weight;
        }

        return 1 - keep;
    }

    private static void Score(string text, List<(Finding, double)> signals, int depth)
    {
        int[]? map = null;
        var scanned = text;
        if (text.AsSpan().IndexOfAny(Hidden) >= 0)
        {
            scanned = HiddenSignals(text, signals, out map);
        }

        Phrases(scanned, map, text.Length, signals);
        if (depth == 0 && text.Length >= 24)
        {
            EncodedSignals(text, signals);
        }
    }

    private static void Phrases(string text, int[]? map, int originalLength, List<(Finding, double)> signals)
    {
        // One vectorized search for the words every expression needs, then only the expressions
        // whose words occur run: prose without any of them costs one pass.
        var families = Families(text);
        if (families == 0)
        {
            return;
        }

        if ((families & FamilyIgnore) != 0)
        {
            Add(IgnoreRegex(), 0.9, IgnoreInstructions);
            Add(ForgetEverythingRegex(), 0.9, IgnoreInstructions);
        }

        Run(FamilyNew, NewInstructionsRegex(), 0.4, IgnoreInstructions);
        Run(FamilyLeak, LeakRegex(), 0.6, PromptLeak);
        Run(FamilyDan, DanRegex(), 0.8, Roleplay);
        Run(FamilyPersona, UnrestrictedPersonaRegex(), 0.8, Roleplay);
        Run(FamilyNoLonger, NoLongerBoundRegex(), 0.7, Roleplay);
        Run(FamilyMode, DeveloperModeRegex(), 0.6, Roleplay);
        Run(FamilyJailbreak, JailbreakRegex(), 0.4, Roleplay);
        Run(FamilyUnfiltered, UnfilteredRegex(), 0.3, Roleplay);

        void Run(int family, Regex regex, double weight, string rule)
        {
            if ((families & family) != 0)
            {
                Add(regex, weight, rule);
            }
        }

        void Add(Regex regex, double weight, string rule)
        {
            foreach (var match in regex.EnumerateMatches(text))
            {
                var start = map is null ? match.Index : map[match.Index];
                var end = map is null ? match.Index + match.Length : (match.Index + match.Length < map.Length ? map[match.Index + match.Length] : originalLength);
                signals.Add((new Finding(rule, start, end - start), weight));
            }
        }
    }

    private const int FamilyIgnore = 1;
    private const int FamilyNew = 2;
    private const int FamilyLeak = 4;
    private const int FamilyDan = 8;
    private const int FamilyPersona = 16;
    private const int FamilyNoLonger = 32;
    private const int FamilyMode = 64;
    private const int FamilyJailbreak = 128;
    private const int FamilyUnfiltered = 256;

    /// <summary>Words at least one of which each expression of a family must contain (case-insensitive).</summary>
    private static readonly (string Stem, int Families)[] Stems =
    [
        ("ignor", FamilyIgnore), ("disregard", FamilyIgnore), ("forget", FamilyIgnore), ("overrid", FamilyIgnore), ("bypass", FamilyIgnore),
        ("skip", FamilyIgnore), ("discard", FamilyIgnore), ("abandon", FamilyIgnore), ("neglect", FamilyIgnore),
        ("instructions", FamilyNew | FamilyLeak), ("prompt", FamilyLeak), ("rules", FamilyLeak | FamilyPersona), ("system", FamilyLeak),
        ("anything", FamilyDan),
        ("restriction", FamilyPersona), ("limit", FamilyPersona), ("filter", FamilyPersona), ("guideline", FamilyPersona), ("censor", FamilyPersona),
        ("ethic", FamilyPersona | FamilyUnfiltered), ("moral", FamilyPersona | FamilyUnfiltered), ("boundar", FamilyPersona), ("polic", FamilyPersona),
        ("longer", FamilyNoLonger), ("freed", FamilyNoLonger), ("liberated", FamilyNoLonger), ("released", FamilyNoLonger),
        ("mode", FamilyMode), ("jailbr", FamilyJailbreak), ("unfiltered", FamilyUnfiltered), ("uncensored", FamilyUnfiltered), ("unaligned", FamilyUnfiltered),
    ];

    private static readonly SearchValues<string> StemSearch = SearchValues.Create(Stems.Select(static s => s.Stem).ToArray(), StringComparison.OrdinalIgnoreCase);

    private static int Families(string text)
    {
        var families = 0;
        var span = text.AsSpan();
        var at = 0;
        while (at < span.Length)
        {
            var hit = span[at..].IndexOfAny(StemSearch);
            if (hit < 0)
            {
                break;
            }

            at += hit;
            foreach (var (stem, family) in Stems)
            {
                if (span[at..].StartsWith(stem, StringComparison.OrdinalIgnoreCase))
                {
                    families |= family;
                }
            }

            at++;
        }

        // Short, case-sensitive words are cheaper as their own searches than as stems.
        if (span.IndexOf("DAN", StringComparison.Ordinal) >= 0 || span.IndexOf("STAN", StringComparison.Ordinal) >= 0)
        {
            families |= FamilyDan;
        }

        if (span.IndexOf("now", StringComparison.OrdinalIgnoreCase) >= 0)
        {
            families |= FamilyNew;
        }

        return families;
    }

    /// <summary>Scores hidden characters and returns the text without them (with a map back to original offsets).</summary>
    private static string HiddenSignals(string text, List<(Finding, double)> signals, out int[] map)
    {
        var visible = new StringBuilder(text.Length);
        map = new int[text.Length + 1];
        var zeroWidth = 0;
        var firstHidden = -1;
        var lastHidden = -1;
        StringBuilder? tagged = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\uDB40' && i + 1 < text.Length && text[i + 1] is >= '\uDC00' and <= '\uDC7F')
            {
                // Unicode tag characters (U+E0000..U+E007F) spell invisible ASCII: "ASCII smuggling".
                (tagged ??= new StringBuilder()).Append((char)(text[i + 1] - '\uDC00'));
                Mark(i, 2);
                i++;
                continue;
            }

            if (c is '\u202A' or '\u202B' or '\u202C' or '\u202D' or '\u202E' or '\u2066' or '\u2067' or '\u2068' or '\u2069')
            {
                signals.Add((new Finding(HiddenText, i, 1), 0.6));
                Mark(i, 1);
                continue;
            }

            if (c is '\u200B' or '\u200C' or '\u2060' or '\u2061' or '\u2062' or '\u2063' or '\u2064' or '\u00AD' or '\uFEFF'
                || (c == '\u200D' && !BetweenEmoji(text, i)))
            {
                if (!(c == '\uFEFF' && i == 0))
                {
                    zeroWidth++;
                    Mark(i, 1);
                }

                continue;
            }

            map[visible.Length] = i;
            visible.Append(c);
        }

        map[visible.Length] = text.Length;
        if (tagged is not null)
        {
            signals.Add((new Finding(HiddenText, firstHidden, lastHidden - firstHidden), 0.9));
            var smuggled = tagged.ToString();
            var inner = new List<(Finding, double)>();
            Phrases(smuggled, null, smuggled.Length, inner);
            foreach (var (_, weight) in inner)
            {
                signals.Add((new Finding(HiddenText, firstHidden, lastHidden - firstHidden), weight));
            }
        }

        if (zeroWidth > 0)
        {
            signals.Add((new Finding(HiddenText, firstHidden, lastHidden - firstHidden), zeroWidth >= 3 ? 0.7 : 0.3));
        }

        Array.Resize(ref map, visible.Length + 1);
        return visible.ToString();

        void Mark(int at, int length)
        {
            if (firstHidden < 0)
            {
                firstHidden = at;
            }

            lastHidden = at + length;
        }
    }

    /// <summary>U+200D inside an emoji sequence (family, profession, flag) is legitimate.</summary>
    private static bool BetweenEmoji(string text, int i)
        => i > 0 && i + 1 < text.Length && (char.IsLowSurrogate(text[i - 1]) || text[i - 1] == '\uFE0F') && (char.IsHighSurrogate(text[i + 1]) || text[i + 1] is >= '\u2600' and <= '\u27BF');

    private static void EncodedSignals(string text, List<(Finding, double)> signals)
    {
        var i = 0;
        while (i < text.Length)
        {
            if (!IsBase64Char(text[i]))
            {
                i++;
                continue;
            }

            var runStart = i;
            while (i < text.Length && IsBase64Char(text[i]))
            {
                i++;
            }

            var runEnd = i;
            while (i < text.Length && i - runEnd < 2 && text[i] == '=')
            {
                i++;
            }

            if (runEnd - runStart < 24 || (i < text.Length && text[i] == '='))
            {
                continue;
            }

            var matchIndex = runStart;
            var matchLength = i - runStart;
            var run = text.AsSpan(runStart, runEnd - runStart);
            if (run.Length % 4 == 1 || run.Length > 64 * 1024)
            {
                continue;
            }

            // Standard and URL-safe alphabets both occur: normalize to standard, re-pad.
            var padded = (run.Length + 3) / 4 * 4;
            var chars = ArrayPool<char>.Shared.Rent(padded);
            var bytes = ArrayPool<byte>.Shared.Rent(padded);
            try
            {
                for (var k = 0; k < run.Length; k++)
                {
                    chars[k] = run[k] switch { '-' => '+', '_' => '/', var c => c };
                }

                for (var k = run.Length; k < padded; k++)
                {
                    chars[k] = '=';
                }

                if (!Convert.TryFromBase64Chars(chars.AsSpan(0, padded), bytes, out var written))
                {
                    continue;
                }

                var decoded = bytes.AsSpan(0, written);
                if (!Readable(decoded))
                {
                    continue;
                }

                var inner = new List<(Finding, double)>();
                Score(Encoding.UTF8.GetString(decoded), inner, depth: 1);
                var keep = 1.0;
                foreach (var (_, weight) in inner)
                {
                    keep *= 1 - weight;
                }

                if (1 - keep >= 0.5)
                {
                    signals.Add((new Finding(Base64, matchIndex, matchLength), 0.9));
                }
            }
            finally
            {
                ArrayPool<char>.Shared.Return(chars);
                ArrayPool<byte>.Shared.Return(bytes);
            }
        }
    }

    private static bool Readable(ReadOnlySpan<byte> decoded)
    {
        if (decoded.Length < 12)
        {
            return false;
        }

        var printable = 0;
        foreach (var b in decoded)
        {
            if (b is >= 0x20 and < 0x7F or (byte)'\n' or (byte)'\r' or (byte)'\t' or >= 0x80)
            {
                printable++;
            }
        }

        return printable >= decoded.Length * 0.95;
    }

    private const string Qualifier = @"(?:previous|prior|above|earlier|preceding|foregoing|system|original|initial|your|safety|developer|openai|anthropic|all\s+(?:of\s+)?(?:the\s+|your\s+|my\s+)?(?:previous|prior|above|earlier|preceding|system|original|safety))";
    private const string Instruction = @"(?:instructions?|prompts?|rules|directions|guidelines|guardrails|restrictions|constraints|programming|directives|policies|context|messages|commands)";

    [GeneratedRegex(@"\b(?:ignore|disregard|forget|override|bypass|skip|discard|abandon|neglect)\s+(?:(?:the|all|any|of|these|those|my|and)\s+){0,3}" + Qualifier + @"\s+(?:[\w-]+\s+){0,2}?" + Instruction + @"\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex IgnoreRegex();

    [GeneratedRegex(@"\b(?:ignore|disregard|forget)\s+(?:everything|all(?:\s+of)?\s+(?:that|this|it)|what(?:ever)?)\s+(?:you\s+(?:were|have\s+been)\s+(?:told|given|instructed)|(?:i|we)\s+(?:said|told\s+you)|(?:written\s+)?above|before\s+this|previously|so\s+far|until\s+now)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ForgetEverythingRegex();

    [GeneratedRegex(@"\b(?:new|updated|real|actual)\s+(?:system\s+)?instructions\s*:|\bfrom\s+now\s+on,?\s+you\s+(?:will|must|are|shall)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex NewInstructionsRegex();

    [GeneratedRegex(@"\b(?:reveal|show|print|repeat|output|tell|display|leak|dump|give|recite|write\s+out)\s+(?:me\s+|us\s+)?(?:(?:all|back|out)\s+)?(?:your|the)\s+(?:(?:full|entire|exact|complete|original|hidden|secret|initial|system)\s+){0,2}(?:system\s+prompt|system\s+message|initial\s+prompt|hidden\s+prompt|(?<=your\s+(?:\w+\s+){0,2})(?:instructions|prompt|rules))\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex LeakRegex();

    [GeneratedRegex(@"\bDAN\b(?=[\s\S]{0,80}\b(?:mode|anything|persona|jailbreak|stands\s+for)\b)|(?i:\bdo\s+anything\s+now\b)|\bSTAN\b(?=[\s\S]{0,60}\bstrive\s+to\s+avoid\s+norms\b)", RegexOptions.CultureInvariant)]
    private static partial Regex DanRegex();

    [GeneratedRegex(@"\b(?:pretend|act|behave|roleplay|role-play|imagine|respond)\s+(?:(?:that\s+)?you\s+(?:are|were)|to\s+be|as(?:\s+if)?(?:\s+you\s+(?:are|were))?)\s+[^.!?\n]{0,80}?\b(?:without|no|free\s+(?:of|from)|not\s+bound\s+by|ignoring|unrestricted\s+by)\s+(?:any\s+)?(?:\w+\s+)?(?:restrictions|limits|limitations|filters|rules|guidelines|censorship|ethics|morals|boundaries|policies)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex UnrestrictedPersonaRegex();

    [GeneratedRegex(@"\byou\s+are\s+(?:now\s+)?no\s+longer\s+(?:bound|restricted|limited|an\s+ai|a\s+language\s+model|chatgpt|claude|an\s+assistant|required\s+to\s+follow)\b|\b(?:freed|liberated|released)\s+from\s+(?:your|the|all)\s+(?:\w+\s+)?(?:restrictions|rules|guidelines|constraints|programming)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex NoLongerBoundRegex();

    [GeneratedRegex(@"\b(?:developer|god|sudo|admin|debug|maintenance)\s+mode\s+(?:enabled|activated)\b|\b(?:enable|activate|enter|switch\s+to)\s+(?:the\s+)?(?:developer|god|sudo|unrestricted|jailbreak)\s+mode\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex DeveloperModeRegex();

    [GeneratedRegex(@"\bjailbr(?:eak|oken)(?:ed)?\b(?![-.]?(?:ios|iphone|device|phone|tweak|detection|console|app))", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex JailbreakRegex();

    [GeneratedRegex(@"\b(?:unfiltered|uncensored|amoral|unaligned|no\s+ethical\s+(?:guidelines|boundaries))\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex UnfilteredRegex();

    private static bool IsBase64Char(char c) => char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '-' or '_';
}
