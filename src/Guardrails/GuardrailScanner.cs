using System.Text;
using Gateway.Grpc.Guardrails.Detectors;
using Gateway.Grpc.Guardrails.Masking;
using Gateway.Grpc.Guardrails.Policy;

namespace Gateway.Grpc.Guardrails;

/// <summary>
/// Runs the detectors a policy needs over a text and applies the policy's actions: the first
/// blocking rule stops everything; otherwise overlapping matches are resolved (the stronger
/// action wins, then the longer match) and the text is rewritten with redactions and mask
/// placeholders. Every rule that fired is added to the call's trigger list (rule and action,
/// never the value). Thread-safe; one instance serves the whole gateway.
/// </summary>
public sealed class GuardrailScanner
{
    private readonly IGuardrailDetector[] _detectors;

    public GuardrailScanner(IEnumerable<IGuardrailDetector> detectors)
    {
        ArgumentNullException.ThrowIfNull(detectors);
        _detectors = [.. detectors];
        foreach (var detector in _detectors)
        {
            if (detector is TopicDetector topics)
            {
                Topics = topics;
            }
        }
    }

    /// <summary>The default detector set: PII, secrets, prompt injection, and the given topics.</summary>
    public static GuardrailScanner CreateDefault(TopicDetector? topics = null, double injectionThreshold = 0.5)
    {
        var detectors = new List<IGuardrailDetector> { new PiiDetector(), new SecretDetector(), new InjectionDetector { Threshold = injectionThreshold } };
        if (topics is not null)
        {
            detectors.Add(topics);
        }

        return new GuardrailScanner(detectors);
    }

    public TopicDetector? Topics { get; }

    public IEnumerable<string> Rules => _detectors.SelectMany(static d => d.Rules);

    /// <summary>
    /// Scans <paramref name="text"/> and applies <paramref name="policy"/>. Returns the text to
    /// pass on (the same instance when nothing changed), or null when a rule blocks it
    /// (<paramref name="blockedRule"/> names the rule). <paramref name="injection"/> = false skips
    /// the injection rules (system messages are the operator's own instructions).
    /// </summary>
    public string? Apply(string text, GuardrailPolicy policy, GuardrailDirection direction, MaskVault? vault, ICollection<GuardrailTrigger> triggers, out string? blockedRule, bool injection = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(triggers);
        blockedRule = null;
        if (text.Length == 0)
        {
            return text;
        }

        var findings = Detect(text, policy, direction, injection);
        if (findings.Count == 0)
        {
            return text;
        }

        var resolved = Resolve(findings, policy, direction, vault, out blockedRule);
        if (blockedRule is not null)
        {
            triggers.Add(new GuardrailTrigger(blockedRule, GuardrailAction.Block, direction));
            return null;
        }

        return Rewrite(text, resolved, text.Length, vault, triggers, direction);
    }

    /// <summary>The raw matches of the detectors whose rules are on in <paramref name="direction"/>.</summary>
    internal List<Finding> Detect(string text, GuardrailPolicy policy, GuardrailDirection direction, bool injection)
    {
        var findings = new List<Finding>();
        foreach (var detector in _detectors)
        {
            if ((!injection && detector is InjectionDetector) || !AnyOn(detector, policy, direction))
            {
                continue;
            }

            detector.Detect(text, findings);
            if (detector is TopicDetector topics && injection && direction == GuardrailDirection.Input)
            {
                // By meaning too, on caller-written input only (not the operator's system prompt).
                topics.DetectSimilar(text, findings);
            }
        }

        return findings;
    }

    /// <summary>Actions per finding, overlaps removed, sorted by position; sets <paramref name="blockedRule"/> on a block.</summary>
    internal static List<(Finding Finding, GuardrailAction Action)> Resolve(List<Finding> findings, GuardrailPolicy policy, GuardrailDirection direction, MaskVault? vault, out string? blockedRule)
    {
        blockedRule = null;
        var actions = new List<(Finding Finding, GuardrailAction Action)>(findings.Count);
        foreach (var finding in findings)
        {
            var action = policy.Resolve(finding.Rule, direction);
            if (action == GuardrailAction.Off)
            {
                continue;
            }

            if (action == GuardrailAction.Block)
            {
                blockedRule = finding.Rule;
                return actions;
            }

            if (action == GuardrailAction.Mask && (vault is null || finding.Length == 0))
            {
                // Nothing to restore on the way out (answers), or nothing to mask (a verdict): redact.
                action = finding.Length == 0 ? GuardrailAction.Flag : GuardrailAction.Redact;
            }

            actions.Add((finding, action));
        }

        actions.Sort(static (a, b) => a.Finding.Start != b.Finding.Start ? a.Finding.Start.CompareTo(b.Finding.Start) : b.Finding.Length.CompareTo(a.Finding.Length));
        var kept = new List<(Finding Finding, GuardrailAction Action)>(actions.Count);
        List<(Finding Finding, GuardrailAction Action)>? losers = null;
        foreach (var item in actions)
        {
            if (kept.Count > 0 && item.Finding.Length > 0 && item.Finding.Start < kept[^1].Finding.End)
            {
                var previous = kept[^1];
                var stronger = item.Action > previous.Action || (item.Action == previous.Action && item.Finding.Length > previous.Finding.Length);
                var (winner, loser) = stronger ? (item, previous) : (previous, item);
                var start = previous.Finding.Start;
                var end = Math.Max(previous.Finding.End, item.Finding.End);

                // One span covering both, under the stronger rule.
                kept[^1] = (new Finding(winner.Finding.Rule, start, end - start), winner.Action);
                if (loser.Finding.Rule != winner.Finding.Rule)
                {
                    // The weaker rule still fired: reported as flagged.
                    (losers ??= []).Add((new Finding(loser.Finding.Rule, 0, 0), GuardrailAction.Flag));
                }

                continue;
            }

            kept.Add(item);
        }

        if (losers is not null)
        {
            kept.AddRange(losers);
        }

        return kept;
    }

    /// <summary>Applies redactions and masks to <c>text[0..end)</c>; records the triggers.</summary>
    internal static string Rewrite(string text, List<(Finding Finding, GuardrailAction Action)> resolved, int end, MaskVault? vault, ICollection<GuardrailTrigger> triggers, GuardrailDirection direction)
    {
        StringBuilder? builder = null;
        var last = 0;
        foreach (var (finding, action) in resolved)
        {
            AddTrigger(triggers, new GuardrailTrigger(finding.Rule, action, direction));
            if (action is not (GuardrailAction.Redact or GuardrailAction.Mask) || finding.Length == 0 || finding.Start < last || finding.End > end)
            {
                continue;
            }

            builder ??= new StringBuilder(end + 32);
            builder.Append(text, last, finding.Start - last);
            builder.Append(action == GuardrailAction.Mask
                ? vault!.Mask(finding.Rule, text.Substring(finding.Start, finding.Length))
                : "[REDACTED:" + MaskVault.Label(finding.Rule) + "]");
            last = finding.End;
        }

        if (builder is null)
        {
            return end == text.Length ? text : text[..end];
        }

        builder.Append(text, last, end - last);
        return builder.ToString();
    }

    internal static void AddTrigger(ICollection<GuardrailTrigger> triggers, GuardrailTrigger trigger)
    {
        if (!triggers.Contains(trigger))
        {
            triggers.Add(trigger);
        }
    }

    private static bool AnyOn(IGuardrailDetector detector, GuardrailPolicy policy, GuardrailDirection direction)
    {
        foreach (var rule in detector.Rules)
        {
            if (policy.Resolve(rule, direction) != GuardrailAction.Off)
            {
                return true;
            }
        }

        return false;
    }
}
