namespace Gateway.Grpc.Server.Configuration;

/// <summary>
/// Input and output guardrails (<c>guardrails:</c>). A caller's level comes from its key's or
/// team's <c>guardrail_level</c> metadata (the key wins), else <see cref="DefaultLevel"/>; a model
/// group may add its own (<c>models[].guardrails</c>); where both apply, the stronger action wins
/// per rule. See README "Guardrails".
/// </summary>
public sealed class GuardrailsOptions
{
    /// <summary>Level for callers whose key and team name none: off, standard or strict. Default off.</summary>
    public string DefaultLevel { get; set; } = "off";

    /// <summary>Streams: most characters of answer text held back to catch a value split across deltas (16..4096, default 256).</summary>
    public int StreamWindowChars { get; set; } = Gateway.Grpc.Guardrails.Streaming.OutputStreamGuard.DefaultWindow;

    /// <summary>Prompt-injection score (0..1] at which injection rules fire. Default 0.5.</summary>
    public double InjectionThreshold { get; set; } = 0.5;

    /// <summary>Rule actions replacing the built-in ones of a level: <c>levels:strict:input:pii.email: redact</c>.</summary>
    public Dictionary<string, GuardrailRuleTable> Levels { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Topics callers may not raise; a match is rule <c>topic.NAME</c> (blocked in standard and strict).</summary>
    public List<TopicOptions> DenyTopics { get; set; } = [];

    /// <summary>When set, a request whose user messages touch none of these topics is rule <c>topic.off_topic</c>.</summary>
    public List<TopicOptions> AllowTopics { get; set; } = [];

    /// <summary>Structured answers (<c>response_format</c> json_schema).</summary>
    public ResponseFormatGuardOptions ResponseFormat { get; set; } = new();
}

/// <summary>Rule actions per direction: keys are rules or rule prefixes (<c>pii</c>, <c>pii.email</c>), values off, flag, mask, redact or block.</summary>
public sealed class GuardrailRuleTable
{
    public Dictionary<string, string> Input { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public Dictionary<string, string> Output { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>A named topic for the deny or allow list.</summary>
public sealed class TopicOptions
{
    /// <summary>Lower-case letters, digits and underscores; the rule is <c>topic.NAME</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Whole words or phrases, case-insensitive.</summary>
    public List<string> Keywords { get; set; } = [];

    /// <summary>.NET regular expressions (case-insensitive, 50 ms match timeout).</summary>
    public List<string> Patterns { get; set; } = [];

    /// <summary>Example prompts: a text this close in meaning (local all-MiniLM-L6-v2) is on the topic.</summary>
    public List<string> Examples { get; set; } = [];

    /// <summary>Cosine similarity to an example that counts as a match, (0, 1].</summary>
    public double Similarity { get; set; } = Gateway.Grpc.Guardrails.Detectors.TopicDefinition.DefaultSimilarity;
}

/// <summary>A model group's own guardrails (<c>models[].guardrails</c>), combined with the caller's.</summary>
public sealed class ModelGuardrailOptions
{
    /// <summary>off, standard or strict; empty = the group adds nothing beyond its rule tables.</summary>
    public string? Level { get; set; }

    public Dictionary<string, string> Input { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public Dictionary<string, string> Output { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>Validation of answers to requests whose response_format is a JSON schema.</summary>
public sealed class ResponseFormatGuardOptions
{
    /// <summary>Check the answer against the schema (unary calls). Default on.</summary>
    public bool Validate { get; set; } = true;

    /// <summary>Further attempts after an answer that does not match (0..3, default 1).</summary>
    public int Retries { get; set; } = 1;
}
