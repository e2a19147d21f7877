using System.Globalization;
using System.Text;

namespace Gateway.Grpc.Tokenizer.Internal;

/// <summary>
/// Translates a tiktoken <c>pat_str</c> (Rust regex / fancy-regex syntax) into a .NET pattern that
/// splits text into the same pieces.
/// <para>
/// Three differences between the engines matter here:
/// <list type="number">
/// <item>Possessive quantifiers (<c>X*+</c>, <c>X++</c>, <c>X?+</c>, <c>X{n,m}+</c>), which .NET
/// lacks: a possessive quantifier never gives back what it matched, which is exactly an atomic
/// group around the greedy quantifier, so <c>X*+</c> becomes <c>(?&gt;X*)</c>.</item>
/// <item>Code points versus UTF-16: Rust matches Unicode scalar values, .NET matches chars, so a
/// class like <c>\p{L}</c> would not match a letter outside the BMP (a surrogate pair) and
/// <c>[^\p{L}]?</c> could take half of one. In astral mode every class becomes
/// <c>(?:[BMP part, no surrogates]|H[L-L]|...)</c>, listing its supplementary-plane members as
/// surrogate pairs computed from .NET's Unicode data. Callers use the plain (BMP) translation
/// for text without surrogates, where both match the same.</item>
/// <item><c>(?i)</c> uses Unicode simple case folding in Rust: <c>s</c> also matches U+017F
/// (long s) and <c>k</c> U+212A (Kelvin sign), which .NET's ignore-case does not. Case-insensitive
/// ASCII letters are expanded into explicit classes with those folds.</item>
/// </list>
/// Also: <c>$</c> (end of text in Rust without <c>m</c>) becomes <c>\z</c>, and capturing groups
/// become non-capturing. Anything the translator cannot map exactly (<c>\w</c>, <c>\b</c>,
/// backreferences, class set operations, case-insensitive classes) is rejected with an error that
/// names the construct, rather than translated approximately.
/// </para>
/// </summary>
internal static class PatternTranslator
{
    public static string Translate(string pattern, bool astral)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var parser = new Parser(pattern, astral);
        return parser.Run();
    }

    /// <summary>
    /// For each general category, a BMP character that every class and literal of the pattern
    /// treats exactly like a supplementary-plane character of that category; null when the pattern
    /// has no such characters (it names supplementary code points in a range or literal).
    /// <para>
    /// With these stand-ins, text with surrogate pairs can be matched by the plain (BMP)
    /// translation: replace each pair by the stand-in of its category (one char for one code
    /// point, as Rust sees it), match, and map the offsets back. That is much faster than the
    /// astral translation, whose classes are long alternations of surrogate ranges. Whether a
    /// supplementary code point is in a class depends only on its category when the class has no
    /// supplementary range, and a stand-in is chosen outside every range and literal of the
    /// pattern and is not white space, so it is in exactly the same classes.
    /// </para>
    /// </summary>
    public static char[]? CreateStandIns(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var parser = new Parser(pattern, astral: false);
        parser.Run();
        if (parser.NamesSupplementaryCodePoints)
        {
            return null;
        }

        var standIns = new char[32];
        var needed = new bool[32];
        foreach (var run in AstralCategoryRuns.Value)
        {
            needed[(int)run.Category] = true;
        }

        for (var category = 0; category < needed.Length; category++)
        {
            if (!needed[category])
            {
                continue;
            }

            var found = false;
            for (var c = 0x80; c <= 0xFFFF && !found; c++)
            {
                if (c is >= 0xD800 and <= 0xDFFF
                    || (int)CharUnicodeInfo.GetUnicodeCategory(c) != category
                    || IsWhiteSpace(c)
                    || parser.Literals.Contains(c)
                    || parser.Classes.Any(cls => cls.Items.Any(i => i.Kind == ClassItemKind.Range && c >= i.Low && c <= i.High)))
                {
                    continue;
                }

                standIns[category] = (char)c;
                found = true;
            }

            if (!found)
            {
                return null;
            }
        }

        return standIns;
    }

    // Rust's \s is Unicode White_Space, which is exactly .NET's regex \s.
    private static bool IsWhiteSpace(int c) => c is (>= 0x09 and <= 0x0D) or 0x20 or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    private sealed class Parser(string pattern, bool astral)
    {
        private readonly StringBuilder _out = new();
        private int _pos;

        /// <summary>Every character class of the pattern (including \p, \s, \d and . atoms).</summary>
        public List<CharClass> Classes { get; } = [];

        /// <summary>Every literal code point, with its case-insensitive variants.</summary>
        public HashSet<int> Literals { get; } = [];

        /// <summary>True when a literal or class range names a code point above U+FFFF.</summary>
        public bool NamesSupplementaryCodePoints { get; private set; }

        public string Run()
        {
            var ignoreCase = false;
            ParseAlternation(ref ignoreCase);
            if (_pos < pattern.Length)
            {
                throw Error("unbalanced ')'");
            }

            return _out.ToString();
        }

        private void ParseAlternation(ref bool ignoreCase)
        {
            while (true)
            {
                ParseSequence(ref ignoreCase);
                if (_pos < pattern.Length && pattern[_pos] == '|')
                {
                    _out.Append('|');
                    _pos++;
                    continue;
                }

                return;
            }
        }

        private void ParseSequence(ref bool ignoreCase)
        {
            while (_pos < pattern.Length && pattern[_pos] != '|' && pattern[_pos] != ')')
            {
                var atomStart = _out.Length;
                if (ParseAtom(ref ignoreCase))
                {
                    ParseQuantifier(atomStart);
                }
            }
        }

        private void ParseQuantifier(int atomStart)
        {
            if (_pos >= pattern.Length)
            {
                return;
            }

            string quantifier;
            var c = pattern[_pos];
            if (c is '?' or '*' or '+')
            {
                quantifier = c.ToString();
                _pos++;
            }
            else if (c == '{')
            {
                var close = pattern.IndexOf('}', _pos);
                if (close < 0 || !IsCounter(pattern.AsSpan(_pos + 1, close - _pos - 1)))
                {
                    throw Error("'{' that is not a counted repetition {n}, {n,} or {n,m}");
                }

                quantifier = pattern[_pos..(close + 1)];
                _pos = close + 1;
            }
            else
            {
                return;
            }

            if (_pos < pattern.Length && pattern[_pos] == '+')
            {
                // Possessive: X*+ matches like (?>X*).
                _pos++;
                _out.Insert(atomStart, "(?>").Append(quantifier).Append(')');
            }
            else if (_pos < pattern.Length && pattern[_pos] == '?')
            {
                _pos++;
                _out.Append(quantifier).Append('?');
            }
            else
            {
                _out.Append(quantifier);
            }

            if (_pos < pattern.Length && pattern[_pos] is '?' or '*' or '+' or '{')
            {
                throw Error("a repetition of a repetition");
            }
        }

        private static bool IsCounter(ReadOnlySpan<char> body)
        {
            var comma = body.IndexOf(',');
            if (comma < 0)
            {
                return body.Length > 0 && int.TryParse(body, NumberStyles.None, CultureInfo.InvariantCulture, out _);
            }

            var min = body[..comma];
            var max = body[(comma + 1)..];
            return min.Length > 0 && int.TryParse(min, NumberStyles.None, CultureInfo.InvariantCulture, out _)
                && (max.Length == 0 || int.TryParse(max, NumberStyles.None, CultureInfo.InvariantCulture, out _));
        }

        /// <summary>Appends one atom; returns false when it appended nothing that can repeat (an inline flag).</summary>
        private bool ParseAtom(ref bool ignoreCase)
        {
            var c = pattern[_pos];
            switch (c)
            {
                case '(':
                    return ParseGroup(ref ignoreCase);
                case '[':
                    EmitClass(ParseClass(ignoreCase));
                    return true;
                case '\\':
                    ParseEscape(ignoreCase);
                    return true;
                case '.':
                    _pos++;
                    EmitClass(new CharClass(Negated: true, [ClassItem.Range('\n', '\n')]));
                    return true;
                case '^':
                    _pos++;
                    _out.Append('^');
                    return false;
                case '$':
                    // Rust's $ without the m flag is the end of the text; .NET's $ also matches before a final \n.
                    _pos++;
                    _out.Append(@"\z");
                    return false;
                case '*' or '+' or '?' or '{':
                    throw Error($"'{c}' with nothing to repeat");
                default:
                    EmitLiteral(ReadCodePoint(), ignoreCase);
                    return true;
            }
        }

        private bool ParseGroup(ref bool ignoreCase)
        {
            _pos++; // (
            var groupIgnoreCase = ignoreCase;
            if (_pos < pattern.Length && pattern[_pos] == '?')
            {
                _pos++;
                if (_pos >= pattern.Length)
                {
                    throw Error("an unterminated group");
                }

                switch (pattern[_pos])
                {
                    case ':':
                        _pos++;
                        _out.Append("(?:");
                        break;
                    case '>':
                        _pos++;
                        _out.Append("(?>");
                        break;
                    case '=':
                        _pos++;
                        _out.Append("(?=");
                        break;
                    case '!':
                        _pos++;
                        _out.Append("(?!");
                        break;
                    case '<' when _pos + 1 < pattern.Length && pattern[_pos + 1] is '=' or '!':
                        _out.Append("(?<").Append(pattern[_pos + 1]);
                        _pos += 2;
                        break;
                    case '<':
                    case 'P' when _pos + 1 < pattern.Length && pattern[_pos + 1] == '<':
                        var close = pattern.IndexOf('>', _pos);
                        if (close < 0)
                        {
                            throw Error("an unterminated group name");
                        }

                        _pos = close + 1;
                        _out.Append("(?:"); // only match spans are used, never captures
                        break;
                    default:
                        var enable = true;
                        var flags = ignoreCase;
                        while (_pos < pattern.Length && pattern[_pos] is not (':' or ')'))
                        {
                            switch (pattern[_pos])
                            {
                                case '-':
                                    enable = false;
                                    break;
                                case 'i':
                                    flags = enable;
                                    break;
                                case 'u':
                                    if (!enable)
                                    {
                                        throw Error("'(?-u)' (byte-oriented matching)");
                                    }

                                    break; // Unicode mode is the default in Rust and the only mode here.
                                default:
                                    throw Error($"the inline flag '{pattern[_pos]}' (only i and u are supported)");
                            }

                            _pos++;
                        }

                        if (_pos >= pattern.Length)
                        {
                            throw Error("an unterminated flag group");
                        }

                        if (pattern[_pos] == ')')
                        {
                            // (?i) applies to the rest of the enclosing group.
                            _pos++;
                            ignoreCase = flags;
                            return false;
                        }

                        _pos++; // :
                        groupIgnoreCase = flags;
                        _out.Append("(?:");
                        break;
                }
            }
            else
            {
                _out.Append("(?:");
            }

            ParseAlternation(ref groupIgnoreCase);
            if (_pos >= pattern.Length || pattern[_pos] != ')')
            {
                throw Error("an unterminated group");
            }

            _pos++;
            _out.Append(')');
            return true;
        }

        private void ParseEscape(bool ignoreCase)
        {
            _pos++; // backslash
            if (_pos >= pattern.Length)
            {
                throw Error("a trailing backslash");
            }

            var e = pattern[_pos];
            switch (e)
            {
                case 'p' or 'P' or 's' or 'S' or 'd' or 'D':
                    var item = ParseClassEscape(ignoreCase);
                    EmitClass(new CharClass(Negated: false, [item]));
                    return;
                case 'A':
                    _pos++;
                    _out.Append(@"\A");
                    return;
                case 'z':
                    _pos++;
                    _out.Append(@"\z");
                    return;
                default:
                    EmitLiteral(ParseEscapedCodePoint(), ignoreCase);
                    return;
            }
        }

        /// <summary>Reads \p{..}, \P{..}, \pX, \s, \S, \d, \D at _pos (just after the backslash).</summary>
        private ClassItem ParseClassEscape(bool ignoreCase)
        {
            var e = pattern[_pos++];
            switch (e)
            {
                case 's':
                    return ClassItem.Space(negated: false);
                case 'S':
                    return ClassItem.Space(negated: true);
                case 'd':
                    return ClassItem.Categories("Nd", [UnicodeCategory.DecimalDigitNumber], negated: false);
                case 'D':
                    return ClassItem.Categories("Nd", [UnicodeCategory.DecimalDigitNumber], negated: true);
            }

            // \p / \P
            string name;
            if (_pos < pattern.Length && pattern[_pos] == '{')
            {
                var close = pattern.IndexOf('}', _pos);
                if (close < 0)
                {
                    throw Error("an unterminated \\p{...}");
                }

                name = pattern[(_pos + 1)..close];
                _pos = close + 1;
            }
            else if (_pos < pattern.Length)
            {
                name = pattern[_pos].ToString();
                _pos++;
            }
            else
            {
                throw Error("\\p without a property name");
            }

            var negated = e == 'P';
            if (name.StartsWith('^'))
            {
                negated = !negated;
                name = name[1..];
            }

            if (ignoreCase && name is not ("N" or "Nd" or "Nl" or "No" or "P" or "S" or "Z" or "C" or "M" or "Mn" or "Mc" or "Me"))
            {
                // Rust folds case in (?i)\p{Lu}, so it matches lowercase letters too.
                throw Error($"\\p{{{name}}} inside a case-insensitive group");
            }

            return ClassItem.Categories(name, GeneralCategories(name), negated);
        }

        private IReadOnlyList<UnicodeCategory> GeneralCategories(string name) => name switch
        {
            "L" => [UnicodeCategory.UppercaseLetter, UnicodeCategory.LowercaseLetter, UnicodeCategory.TitlecaseLetter, UnicodeCategory.ModifierLetter, UnicodeCategory.OtherLetter],
            "Lu" => [UnicodeCategory.UppercaseLetter],
            "Ll" => [UnicodeCategory.LowercaseLetter],
            "Lt" => [UnicodeCategory.TitlecaseLetter],
            "Lm" => [UnicodeCategory.ModifierLetter],
            "Lo" => [UnicodeCategory.OtherLetter],
            "M" => [UnicodeCategory.NonSpacingMark, UnicodeCategory.SpacingCombiningMark, UnicodeCategory.EnclosingMark],
            "Mn" => [UnicodeCategory.NonSpacingMark],
            "Mc" => [UnicodeCategory.SpacingCombiningMark],
            "Me" => [UnicodeCategory.EnclosingMark],
            "N" => [UnicodeCategory.DecimalDigitNumber, UnicodeCategory.LetterNumber, UnicodeCategory.OtherNumber],
            "Nd" => [UnicodeCategory.DecimalDigitNumber],
            "Nl" => [UnicodeCategory.LetterNumber],
            "No" => [UnicodeCategory.OtherNumber],
            "P" => [UnicodeCategory.ConnectorPunctuation, UnicodeCategory.DashPunctuation, UnicodeCategory.OpenPunctuation, UnicodeCategory.ClosePunctuation, UnicodeCategory.InitialQuotePunctuation, UnicodeCategory.FinalQuotePunctuation, UnicodeCategory.OtherPunctuation],
            "S" => [UnicodeCategory.MathSymbol, UnicodeCategory.CurrencySymbol, UnicodeCategory.ModifierSymbol, UnicodeCategory.OtherSymbol],
            "Sm" => [UnicodeCategory.MathSymbol],
            "Sc" => [UnicodeCategory.CurrencySymbol],
            "Sk" => [UnicodeCategory.ModifierSymbol],
            "So" => [UnicodeCategory.OtherSymbol],
            "Z" => [UnicodeCategory.SpaceSeparator, UnicodeCategory.LineSeparator, UnicodeCategory.ParagraphSeparator],
            "Zs" => [UnicodeCategory.SpaceSeparator],
            "Zl" => [UnicodeCategory.LineSeparator],
            "Zp" => [UnicodeCategory.ParagraphSeparator],
            _ => throw Error($"the property \\p{{{name}}} (only general categories such as L, Lu, N, M, P, S, Z are supported)"),
        };

        private int ParseEscapedCodePoint()
        {
            var e = pattern[_pos++];
            switch (e)
            {
                case 'n': return '\n';
                case 'r': return '\r';
                case 't': return '\t';
                case 'f': return '\f';
                case 'v': return '\v';
                case 'x' or 'u' or 'U':
                    int length;
                    int start;
                    if (_pos < pattern.Length && pattern[_pos] == '{')
                    {
                        var close = pattern.IndexOf('}', _pos);
                        if (close < 0)
                        {
                            throw Error("an unterminated hex escape");
                        }

                        start = _pos + 1;
                        length = close - start;
                        _pos = close + 1;
                    }
                    else
                    {
                        start = _pos;
                        length = e switch { 'x' => 2, 'u' => 4, _ => 8 };
                        _pos += length;
                    }

                    if (start + length > pattern.Length
                        || !int.TryParse(pattern.AsSpan(start, length), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var cp)
                        || cp > 0x10FFFF || cp is >= 0xD800 and <= 0xDFFF)
                    {
                        throw Error("an invalid hex escape");
                    }

                    return cp;
                case 'w' or 'W' or 'b' or 'B':
                    throw Error($"\\{e} (its definition differs between Rust and .NET)");
                default:
                    if (char.IsAsciiLetterOrDigit(e))
                    {
                        throw Error($"the escape \\{e}");
                    }

                    return e;
            }
        }

        private int ReadCodePoint()
        {
            var c = pattern[_pos];
            if (char.IsHighSurrogate(c) && _pos + 1 < pattern.Length && char.IsLowSurrogate(pattern[_pos + 1]))
            {
                _pos += 2;
                return char.ConvertToUtf32(c, pattern[_pos - 1]);
            }

            _pos++;
            return c;
        }

        private CharClass ParseClass(bool ignoreCase)
        {
            if (ignoreCase)
            {
                throw Error("a character class inside a case-insensitive group");
            }

            _pos++; // [
            var negated = false;
            if (_pos < pattern.Length && pattern[_pos] == '^')
            {
                negated = true;
                _pos++;
            }

            var items = new List<ClassItem>();
            var first = true;
            while (true)
            {
                if (_pos >= pattern.Length)
                {
                    throw Error("an unterminated character class");
                }

                var c = pattern[_pos];
                if (c == ']' && !first)
                {
                    _pos++;
                    return new CharClass(negated, items);
                }

                first = false;
                if (c == '[')
                {
                    throw Error("a nested class or [:name:] inside a class");
                }

                if (_pos + 1 < pattern.Length && ((c == '&' && pattern[_pos + 1] == '&') || (c == '-' && pattern[_pos + 1] == '-') || (c == '~' && pattern[_pos + 1] == '~')))
                {
                    throw Error("a class set operation (&&, --, ~~)");
                }

                int low;
                if (c == '\\')
                {
                    _pos++;
                    if (_pos >= pattern.Length)
                    {
                        throw Error("a trailing backslash");
                    }

                    if (pattern[_pos] is 'p' or 'P' or 's' or 'S' or 'd' or 'D')
                    {
                        items.Add(ParseClassEscape(ignoreCase: false));
                        continue;
                    }

                    low = ParseEscapedCodePoint();
                }
                else
                {
                    low = ReadCodePoint();
                }

                if (_pos + 1 < pattern.Length && pattern[_pos] == '-' && pattern[_pos + 1] != ']')
                {
                    _pos++;
                    int high;
                    if (pattern[_pos] == '\\')
                    {
                        _pos++;
                        high = ParseEscapedCodePoint();
                    }
                    else
                    {
                        high = ReadCodePoint();
                    }

                    if (high < low)
                    {
                        throw Error("a class range whose end is before its start");
                    }

                    items.Add(ClassItem.Range(low, high));
                }
                else
                {
                    items.Add(ClassItem.Range(low, low));
                }
            }
        }

        private void EmitLiteral(int cp, bool ignoreCase)
        {
            Literals.Add(cp);
            NamesSupplementaryCodePoints |= cp > 0xFFFF;
            if (ignoreCase && cp < 0x80 && char.IsAsciiLetter((char)cp))
            {
                var lower = char.ToLowerInvariant((char)cp);
                var upper = char.ToUpperInvariant((char)cp);
                Literals.Add(lower);
                Literals.Add(upper);
                Literals.Add(0x017F);
                Literals.Add(0x212A);
                _out.Append('[').Append(lower).Append(upper);
                // Unicode simple case folding maps these two non-ASCII letters onto ASCII ones
                // (CaseFolding.txt: 017F; C; 0073 and 212A; C; 006B); Rust's (?i) includes them.
                if (lower == 's')
                {
                    _out.Append(@"\u017F");
                }
                else if (lower == 'k')
                {
                    _out.Append(@"\u212A");
                }

                _out.Append(']');
                return;
            }

            if (ignoreCase && cp >= 0x80 && IsCased(cp))
            {
                throw Error($"the non-ASCII letter U+{cp:X4} inside a case-insensitive group");
            }

            if (cp > 0xFFFF)
            {
                var s = char.ConvertFromUtf32(cp);
                _out.Append("(?:").Append(Escape(s[0])).Append(Escape(s[1])).Append(')');
                return;
            }

            _out.Append(Escape(cp));
        }

        private static bool IsCased(int cp)
        {
            var s = char.ConvertFromUtf32(cp);
            return !string.Equals(s.ToUpperInvariant(), s.ToLowerInvariant(), StringComparison.Ordinal);
        }

        private void EmitClass(CharClass cls)
        {
            Classes.Add(cls);
            NamesSupplementaryCodePoints |= cls.Items.Any(static i => i.Kind == ClassItemKind.Range && i.High > 0xFFFF);
            var bmp = BmpClass(cls);
            if (!astral)
            {
                _out.Append(bmp ?? (cls.Negated ? @"[\s\S]" : "(?!)"));
                return;
            }

            var pairs = AstralAlternatives(cls);
            if (pairs.Count == 0)
            {
                _out.Append(bmp ?? "(?!)");
                return;
            }

            _out.Append("(?:");
            if (bmp is not null)
            {
                _out.Append(bmp).Append('|');
            }

            _out.AppendJoin('|', pairs).Append(')');
        }

        /// <summary>The class restricted to BMP code points that are not surrogates, in .NET syntax; null when empty.</summary>
        private string? BmpClass(CharClass cls)
        {
            var items = new StringBuilder();
            foreach (var item in cls.Items)
            {
                switch (item.Kind)
                {
                    case ClassItemKind.Range when item.Low <= 0xFFFF:
                        items.Append(Escape(item.Low));
                        if (item.High > item.Low)
                        {
                            items.Append('-').Append(Escape(Math.Min(item.High, 0xFFFF)));
                        }

                        break;
                    case ClassItemKind.Space:
                        items.Append(item.Negated ? @"\S" : @"\s");
                        break;
                    case ClassItemKind.Categories:
                        items.Append(item.Negated ? @"\P{" : @"\p{").Append(item.Name).Append('}');
                        break;
                }
            }

            if (items.Length == 0)
            {
                return cls.Negated ? (astral ? @"[^\uD800-\uDFFF]" : @"[\s\S]") : null;
            }

            if (!astral)
            {
                return cls.Negated ? $"[^{items}]" : $"[{items}]";
            }

            // Surrogates never match on their own in astral mode: pairs are matched as whole code points.
            return cls.Negated ? $@"[^{items}\uD800-\uDFFF]" : $@"[{items}-[\uD800-\uDFFF]]";
        }

        /// <summary>The class's supplementary-plane members as surrogate-pair alternatives, grouped by high surrogate.</summary>
        private static List<string> AstralAlternatives(CharClass cls)
        {
            // Low-surrogate ranges (offsets 0..1023) per high surrogate (0..1023).
            var lows = new List<(int From, int To)>?[1024];
            foreach (var (from, to) in AstralMembers(cls))
            {
                for (var cp = from; cp <= to;)
                {
                    var high = (cp - 0x10000) >> 10;
                    var low = (cp - 0x10000) & 0x3FF;
                    var lastInHigh = 0x10000 + (high << 10) + 0x3FF;
                    var end = Math.Min(to, lastInHigh);
                    (lows[high] ??= []).Add((low, low + (end - cp)));
                    cp = end + 1;
                }
            }

            var result = new List<string>();
            var h = 0;
            while (h < 1024)
            {
                if (lows[h] is null)
                {
                    h++;
                    continue;
                }

                var key = LowClass(lows[h]!);
                var last = h;
                while (last + 1 < 1024 && lows[last + 1] is not null && LowClass(lows[last + 1]!) == key)
                {
                    last++;
                }

                var highPart = last == h
                    ? Escape(0xD800 + h)
                    : $"[{Escape(0xD800 + h)}-{Escape(0xD800 + last)}]";
                result.Add(highPart + key);
                h = last + 1;
            }

            return result;
        }

        private static string LowClass(List<(int From, int To)> ranges)
        {
            var sb = new StringBuilder("[");
            foreach (var (from, to) in ranges)
            {
                sb.Append(Escape(0xDC00 + from));
                if (to > from)
                {
                    sb.Append('-').Append(Escape(0xDC00 + to));
                }
            }

            return sb.Append(']').ToString();
        }

        /// <summary>Ranges of supplementary code points (U+10000..U+10FFFF) in the class.</summary>
        private static List<(int From, int To)> AstralMembers(CharClass cls)
        {
            var result = new List<(int From, int To)>();
            var hasAstralRanges = cls.Items.Any(static i => i.Kind == ClassItemKind.Range && i.High > 0xFFFF);
            foreach (var run in AstralCategoryRuns.Value)
            {
                if (hasAstralRanges)
                {
                    for (var cp = run.From; cp <= run.To; cp++)
                    {
                        if (cls.Contains(cp, run.Category))
                        {
                            Add(result, cp, cp);
                        }
                    }
                }
                else if (cls.Contains(run.From, run.Category))
                {
                    Add(result, run.From, run.To);
                }
            }

            return result;

            static void Add(List<(int From, int To)> list, int from, int to)
            {
                if (list.Count > 0 && list[^1].To + 1 == from)
                {
                    list[^1] = (list[^1].From, to);
                }
                else
                {
                    list.Add((from, to));
                }
            }
        }

        private static string Escape(int c)
        {
            if (c < 0x80 && char.IsAsciiLetterOrDigit((char)c))
            {
                return ((char)c).ToString();
            }

            return c <= 0xFFFF
                ? string.Create(CultureInfo.InvariantCulture, $@"\u{c:X4}")
                : throw new ArgumentOutOfRangeException(nameof(c));
        }

        private NotSupportedException Error(string what)
            => new($"The tokenizer pattern uses {what} at offset {_pos}, which has no exact .NET equivalent here. Pattern: {pattern}");
    }

    /// <summary>Runs of equal general category over U+10000..U+10FFFF, from .NET's Unicode data.</summary>
    private static readonly Lazy<(int From, int To, UnicodeCategory Category)[]> AstralCategoryRuns = new(static () =>
    {
        var runs = new List<(int From, int To, UnicodeCategory Category)>();
        var start = 0x10000;
        var current = CharUnicodeInfo.GetUnicodeCategory(start);
        for (var cp = 0x10001; cp <= 0x10FFFF; cp++)
        {
            var category = CharUnicodeInfo.GetUnicodeCategory(cp);
            if (category != current)
            {
                runs.Add((start, cp - 1, current));
                start = cp;
                current = category;
            }
        }

        runs.Add((start, 0x10FFFF, current));
        return [.. runs];
    });

    private enum ClassItemKind
    {
        Range,
        Space,
        Categories,
    }

    private sealed record ClassItem(ClassItemKind Kind, int Low, int High, bool Negated, string Name, IReadOnlyList<UnicodeCategory> Set)
    {
        public static ClassItem Range(int low, int high) => new(ClassItemKind.Range, low, high, false, "", []);

        public static ClassItem Space(bool negated) => new(ClassItemKind.Space, 0, 0, negated, "", []);

        public static ClassItem Categories(string name, IReadOnlyList<UnicodeCategory> set, bool negated) => new(ClassItemKind.Categories, 0, 0, negated, name, set);

        /// <summary>Membership of a supplementary code point (no supplementary code point is White_Space).</summary>
        public bool Contains(int cp, UnicodeCategory category) => Kind switch
        {
            ClassItemKind.Range => cp >= Low && cp <= High,
            ClassItemKind.Space => Negated,
            _ => Set.Contains(category) != Negated,
        };
    }

    private sealed record CharClass(bool Negated, IReadOnlyList<ClassItem> Items)
    {
        public bool Contains(int cp, UnicodeCategory category)
        {
            var any = false;
            foreach (var item in Items)
            {
                if (item.Contains(cp, category))
                {
                    any = true;
                    break;
                }
            }

            return any != Negated;
        }
    }
}
