using System.Text.RegularExpressions;

namespace Gateway.Grpc.Guardrails.Detectors;

/// <summary>A named topic: keywords (whole words or phrases, case-insensitive) and regular expressions.</summary>
public sealed record TopicDefinition(string Name, IReadOnlyList<string> Keywords, IReadOnlyList<string> Patterns);

/// <summary>
/// Deny and allow topic lists. A deny topic reports <c>topic.NAME</c> at each match; when allow
/// topics exist, a request whose user messages match none of them is <c>topic.off_topic</c>
/// (checked by <see cref="MatchesAllowed"/>, over the whole request, not per message).
/// Patterns run with a 50 ms match timeout so a bad expression cannot stall a call.
/// </summary>
public sealed class TopicDetector : IGuardrailDetector
{
    public const string Prefix = "topic.";
    public const string OffTopic = "topic.off_topic";

    private static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(50);

    private readonly (string Rule, Regex Regex)[] _deny;
    private readonly Regex[] _allow;
    private readonly string[] _rules;

    public TopicDetector(IReadOnlyList<TopicDefinition> deny, IReadOnlyList<TopicDefinition> allow)
    {
        ArgumentNullException.ThrowIfNull(deny);
        ArgumentNullException.ThrowIfNull(allow);
        _deny = new (string, Regex)[deny.Count];
        var rules = new List<string>(deny.Count + 1);
        for (var i = 0; i < deny.Count; i++)
        {
            _deny[i] = (Prefix + deny[i].Name, Build(deny[i]));
            rules.Add(Prefix + deny[i].Name);
        }

        _allow = new Regex[allow.Count];
        for (var i = 0; i < allow.Count; i++)
        {
            _allow[i] = Build(allow[i]);
        }

        if (allow.Count > 0)
        {
            rules.Add(OffTopic);
        }

        _rules = [.. rules];
    }

    public IReadOnlyList<string> Rules => _rules;

    public bool HasAllowList => _allow.Length > 0;

    public void Detect(string text, List<Finding> findings)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(findings);
        foreach (var (rule, regex) in _deny)
        {
            try
            {
                foreach (var match in regex.EnumerateMatches(text))
                {
                    findings.Add(new Finding(rule, match.Index, match.Length));
                }
            }
            catch (RegexMatchTimeoutException)
            {
                // A pathological pattern on this text: what was found before the timeout stands.
            }
        }
    }

    /// <summary>True when the text touches at least one allow topic (or there is no allow list).</summary>
    public bool MatchesAllowed(string text)
    {
        if (_allow.Length == 0)
        {
            return true;
        }

        foreach (var regex in _allow)
        {
            try
            {
                if (regex.IsMatch(text))
                {
                    return true;
                }
            }
            catch (RegexMatchTimeoutException)
            {
                return false;
            }
        }

        return false;
    }

    /// <summary>The regular expression for a topic, or the reason it is invalid (for start-up validation).</summary>
    public static string? Validate(TopicDefinition topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        try
        {
            _ = Build(topic);
            return null;
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
    }

    private static Regex Build(TopicDefinition topic)
    {
        var parts = new List<string>();
        foreach (var keyword in topic.Keywords)
        {
            if (!string.IsNullOrWhiteSpace(keyword))
            {
                // Whole words; inner whitespace matches any run of whitespace.
                var escaped = Regex.Escape(keyword.Trim()).Replace(@"\ ", @"\s+", StringComparison.Ordinal);
                parts.Add(@"\b" + escaped + @"\b");
            }
        }

        foreach (var pattern in topic.Patterns)
        {
            if (!string.IsNullOrWhiteSpace(pattern))
            {
                _ = new Regex(pattern, RegexOptions.None, MatchTimeout);
                parts.Add("(?:" + pattern + ")");
            }
        }

        var combined = parts.Count == 0 ? "(?!)" : string.Join('|', parts);
        return new Regex(combined, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Compiled, MatchTimeout);
    }
}
