using System.Text.RegularExpressions;

namespace Gateway.Grpc.Guardrails.Detectors;

/// <summary>
/// A named topic: keywords (whole words or phrases, case-insensitive), regular expressions, and
/// example prompts: a text whose embedding has cosine similarity at least <see cref="Similarity"/>
/// with one of the examples' is on the topic too (needs an embedder; see <see cref="TopicDetector"/>).
/// </summary>
public sealed record TopicDefinition(string Name, IReadOnlyList<string> Keywords, IReadOnlyList<string> Patterns, IReadOnlyList<string>? Examples = null, double Similarity = TopicDefinition.DefaultSimilarity)
{
    /// <summary>Default cosine similarity for an example match (all-MiniLM-L6-v2; measured in the guardrails tests).</summary>
    public const double DefaultSimilarity = 0.45;
}

/// <summary>
/// Deny and allow topic lists. A deny topic reports <c>topic.NAME</c> at each match; when allow
/// topics exist, a request whose user messages match none of them is <c>topic.off_topic</c>
/// (checked by <see cref="MatchesAllowed"/>, over the whole request, not per message).
/// Patterns run with a 50 ms match timeout so a bad expression cannot stall a call. Topics with
/// examples are also matched by meaning (<see cref="DetectSimilar"/>): the text is embedded once and
/// compared with each example (unit vectors, so a dot product); a match is a verdict on the whole
/// text (a zero-length finding), since there is no single span to point at.
/// </summary>
public sealed class TopicDetector : IGuardrailDetector
{
    public const string Prefix = "topic.";
    public const string OffTopic = "topic.off_topic";

    private static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(50);

    private readonly (string Rule, Regex Regex)[] _deny;
    private readonly Regex[] _allow;
    private readonly string[] _rules;
    private readonly Func<string, float[]>? _embed;
    private readonly (string Rule, Lazy<float[][]> Examples, float Threshold)[] _denySimilar;
    private readonly (Lazy<float[][]> Examples, float Threshold)[] _allowSimilar;

    /// <param name="embed">Unit-length embedding of a text; required when a topic has examples.</param>
    public TopicDetector(IReadOnlyList<TopicDefinition> deny, IReadOnlyList<TopicDefinition> allow, Func<string, float[]>? embed = null)
    {
        ArgumentNullException.ThrowIfNull(deny);
        ArgumentNullException.ThrowIfNull(allow);
        _embed = embed;
        _deny = new (string, Regex)[deny.Count];
        var rules = new List<string>(deny.Count + 1);
        var denySimilar = new List<(string, Lazy<float[][]>, float)>();
        for (var i = 0; i < deny.Count; i++)
        {
            _deny[i] = (Prefix + deny[i].Name, Build(deny[i]));
            rules.Add(Prefix + deny[i].Name);
            if (ExamplesOf(deny[i]) is { } examples)
            {
                denySimilar.Add((Prefix + deny[i].Name, examples, (float)deny[i].Similarity));
            }
        }

        _allow = new Regex[allow.Count];
        var allowSimilar = new List<(Lazy<float[][]>, float)>();
        for (var i = 0; i < allow.Count; i++)
        {
            _allow[i] = Build(allow[i]);
            if (ExamplesOf(allow[i]) is { } examples)
            {
                allowSimilar.Add((examples, (float)allow[i].Similarity));
            }
        }

        if (allow.Count > 0)
        {
            rules.Add(OffTopic);
        }

        _rules = [.. rules];
        _denySimilar = [.. denySimilar];
        _allowSimilar = [.. allowSimilar];
    }

    public IReadOnlyList<string> Rules => _rules;

    public bool HasAllowList => _allow.Length > 0;

    /// <summary>True when some topic is matched by meaning (its examples are embedded on first use).</summary>
    public bool UsesEmbeddings => _denySimilar.Length + _allowSimilar.Length > 0;

    /// <summary>Embeds every topic's examples now (start-up, off the request path).</summary>
    public void Warm()
    {
        foreach (var (_, examples, _) in _denySimilar)
        {
            _ = examples.Value;
        }

        foreach (var (examples, _) in _allowSimilar)
        {
            _ = examples.Value;
        }
    }

    /// <summary>
    /// Deny topics matched by meaning: adds a zero-length <c>topic.NAME</c> finding for each topic
    /// (not already found by keyword) with an example at least its similarity away. One embedding
    /// of the text per call, and only when some deny topic has examples.
    /// </summary>
    public void DetectSimilar(string text, List<Finding> findings)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(findings);
        if (_denySimilar.Length == 0 || string.IsNullOrWhiteSpace(text))
        {
            return;
        }

        float[]? vector = null;
        foreach (var (rule, examples, threshold) in _denySimilar)
        {
            if (findings.Exists(f => f.Rule == rule))
            {
                continue;
            }

            vector ??= _embed!(text);
            if (Nearest(vector, examples.Value) >= threshold)
            {
                findings.Add(new Finding(rule, 0, 0));
            }
        }
    }

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

        if (_allowSimilar.Length > 0 && !string.IsNullOrWhiteSpace(text))
        {
            var vector = _embed!(text);
            foreach (var (examples, threshold) in _allowSimilar)
            {
                if (Nearest(vector, examples.Value) >= threshold)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>The highest cosine similarity between a unit vector and unit-length examples.</summary>
    private static float Nearest(float[] vector, float[][] examples)
    {
        var best = float.MinValue;
        foreach (var example in examples)
        {
            best = Math.Max(best, System.Numerics.Tensors.TensorPrimitives.Dot(vector, example));
        }

        return best;
    }

    private Lazy<float[][]>? ExamplesOf(TopicDefinition topic)
    {
        if (topic.Examples is not { Count: > 0 } examples)
        {
            return null;
        }

        var embed = _embed ?? throw new ArgumentException($"Topic '{topic.Name}' has examples, which need an embedder.", nameof(topic));
        var texts = examples.Where(static e => !string.IsNullOrWhiteSpace(e)).ToArray();
        return new Lazy<float[][]>(() => [.. texts.Select(embed)], LazyThreadSafetyMode.ExecutionAndPublication);
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
