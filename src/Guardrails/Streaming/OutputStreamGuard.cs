using System.Text;
using Gateway.Grpc.Guardrails.Masking;
using Gateway.Grpc.Guardrails.Policy;

namespace Gateway.Grpc.Guardrails.Streaming;

/// <summary>
/// Output guardrails for a streamed answer. Text deltas go in, text to send comes out, with a
/// bounded hold-back so that a value split across deltas (a card number in three pieces, a mask
/// placeholder cut after "[EMA") is seen whole before any of it leaves:
/// <list type="bullet">
/// <item>Only the tail that could still grow into a value is held: the last run of characters
/// that values are made of (letters, digits and <c>@._%+-:/=[]()#~</c>), extended back over
/// earlier number groups separated by single spaces (phones, cards, IBANs), and an unfinished
/// <c>-----BEGIN ... PRIVATE KEY</c> block. For prose that is the word being written: one delta.</item>
/// <item>Never more than <see cref="Window"/> characters are held; a run longer than that is
/// released in pieces (values longer than the window, such as a whole PEM block, are only caught
/// while their start is inside it).</item>
/// <item>A match that straddles the release point is held whole when it started inside the window.</item>
/// </list>
/// Released text has the output policy applied (redactions) and then this call's mask
/// placeholders restored. A blocking rule stops the stream: <see cref="Push"/> returns null.
/// Not thread-safe: one per stream.
/// </summary>
public sealed class OutputStreamGuard
{
    /// <summary>Default hold-back bound in characters.</summary>
    public const int DefaultWindow = 256;

    private readonly GuardrailScanner _scanner;
    private readonly GuardrailPolicy _policy;
    private readonly MaskVault? _vault;
    private readonly ICollection<GuardrailTrigger> _triggers;
    private readonly StringBuilder _pending = new();

    public OutputStreamGuard(GuardrailScanner scanner, GuardrailPolicy policy, MaskVault? vault, ICollection<GuardrailTrigger> triggers, int window = DefaultWindow)
    {
        ArgumentNullException.ThrowIfNull(scanner);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(triggers);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 16);
        _scanner = scanner;
        _policy = policy;
        _vault = vault;
        _triggers = triggers;
        Window = window;
    }

    public int Window { get; }

    /// <summary>Characters currently held back.</summary>
    public int Held => _pending.Length;

    /// <summary>The rule that stopped the stream, once one has.</summary>
    public string? BlockedRule { get; private set; }

    /// <summary>Adds a delta; returns the text that may be sent now ("" when all of it is held), or null when blocked.</summary>
    public string? Push(string delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        _pending.Append(delta);
        return Release(final: false);
    }

    /// <summary>The end of the answer: everything still held, checked and restored (or null when blocked).</summary>
    public string? Flush() => Release(final: true);

    private string? Release(bool final)
    {
        if (BlockedRule is not null)
        {
            return null;
        }

        if (_pending.Length == 0)
        {
            return "";
        }

        var text = _pending.ToString();
        var cut = final ? text.Length : Math.Max(HoldStart(text), text.Length - Window);
        if (cut <= 0)
        {
            return "";
        }

        List<(Finding Finding, GuardrailAction Action)> resolved = [];
        if (!_policy.OutputOff)
        {
            var findings = _scanner.Detect(text, _policy, GuardrailDirection.Output, injection: false);
            if (findings.Count > 0)
            {
                resolved = GuardrailScanner.Resolve(findings, _policy, GuardrailDirection.Output, vault: null, out var blocked);
                if (blocked is not null)
                {
                    BlockedRule = blocked;
                    GuardrailScanner.AddTrigger(_triggers, new GuardrailTrigger(blocked, GuardrailAction.Block, GuardrailDirection.Output));
                    _pending.Clear();
                    return null;
                }

                cut = AdjustCut(resolved, cut, text.Length, final);
                if (cut <= 0)
                {
                    return "";
                }

                // Only what is released now is acted on; the rest is seen again with more text.
                resolved.RemoveAll(r => r.Finding.Length > 0 && r.Finding.End > cut);
            }
        }

        var released = GuardrailScanner.Rewrite(text, resolved, cut, vault: null, _triggers, GuardrailDirection.Output);
        _pending.Remove(0, cut);
        return _vault is null ? released : _vault.Restore(released);
    }

    /// <summary>A match across the cut is held whole when it began inside the window, else released whole.</summary>
    private int AdjustCut(List<(Finding Finding, GuardrailAction Action)> resolved, int cut, int length, bool final)
    {
        if (final)
        {
            return cut;
        }

        foreach (var (finding, _) in resolved)
        {
            if (finding.Length > 0 && finding.Start < cut && finding.End > cut)
            {
                cut = finding.Start >= length - Window ? finding.Start : finding.End;
            }
        }

        return cut;
    }

    /// <summary>Where the tail that could still become (part of) a value starts.</summary>
    private int HoldStart(string text)
    {
        var start = text.Length;
        while (start > 0 && IsValueChar(text[start - 1]))
        {
            start--;
        }

        // Number groups split by single spaces: "+1 415 555 2671", "4111 1111 1111 1111", "DE89 3704 ...".
        while (start >= 2 && text[start - 1] == ' ' && IsGroupChar(text[start - 2]))
        {
            var previous = start - 1;
            while (previous > 0 && IsGroupChar(text[previous - 1]))
            {
                previous--;
            }

            if (start - 1 - previous > 6 || text.Length - previous > Window)
            {
                break;
            }

            start = previous;
        }

        // An unfinished PEM block (its header line holds spaces).
        var begin = text.LastIndexOf("-----BEGIN", StringComparison.Ordinal);
        if (begin >= 0 && begin < start && text.IndexOf("-----END", begin, StringComparison.Ordinal) < 0)
        {
            start = begin;
        }

        // An unfinished mask placeholder.
        var open = text.LastIndexOf('[');
        if (open >= 0 && open < start && text.IndexOf(']', open) < 0 && text.Length - open <= 40)
        {
            start = open;
        }

        return start;
    }

    private static bool IsValueChar(char c)
        => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '@' or '.' or '_' or '%' or '+' or '-' or ':' or '/' or '=' or '[' or ']' or '(' or ')' or '#' or '~';

    private static bool IsGroupChar(char c) => c is (>= '0' and <= '9') or (>= 'A' and <= 'Z') or '+' or '(' or ')' or '-' or '.';
}
