namespace Gateway.Grpc.Server.Configuration;

/// <summary>The kinds of model group (<c>models:N:kind</c>).</summary>
public static class ModelKinds
{
    /// <summary>Served by the group's own deployments (the default).</summary>
    public const string Deployments = "deployments";

    /// <summary>A task classifier picks another model for each request.</summary>
    public const string Router = "router";

    /// <summary>Models tried in order until an answer passes the quality gate.</summary>
    public const string Cascade = "cascade";

    public static readonly string[] All = [Deployments, Router, Cascade];
}

/// <summary>
/// <c>models:N:router</c>: sorts each request into a task class and sends it to that class's
/// model. Rules are tried first, in order; when none matches and examples are configured, the
/// class whose examples' mean MiniLM embedding (centroid) is nearest to the request wins; else
/// <see cref="DefaultClass"/>.
/// </summary>
public sealed class TaskRouterOptions
{
    /// <summary>Task class -> model name (any kind but router), e.g. <c>code: code-model</c>.</summary>
    public Dictionary<string, string> Routes { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Ordered rules; the first that matches names the class.</summary>
    public List<TaskRuleOptions> Rules { get; set; } = [];

    /// <summary>Task class -> labelled example prompts, for nearest-centroid classification.</summary>
    public Dictionary<string, List<string>> Examples { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Below this cosine similarity to the nearest centroid the request gets <see cref="DefaultClass"/>. Default 0 (always the nearest).</summary>
    public double MinSimilarity { get; set; }

    /// <summary>The class when no rule matches and no centroid is near enough (must be a key of <see cref="Routes"/>).</summary>
    public string DefaultClass { get; set; } = "";
}

/// <summary>
/// One classification rule. Every condition that is set must hold (AND); a rule with none set
/// always matches (a catch-all).
/// </summary>
public sealed class TaskRuleOptions
{
    /// <summary>The class this rule assigns.</summary>
    public string Class { get; set; } = "";

    /// <summary>.NET regular expression matched (case-insensitive) against the last user message's text.</summary>
    public string? Pattern { get; set; }

    /// <summary>True: the request must carry an image; false: it must not.</summary>
    public bool? HasImages { get; set; }

    /// <summary>True: the request must offer tools; false: it must not.</summary>
    public bool? HasTools { get; set; }

    /// <summary>True: the request must ask for JSON output (json_object or json_schema).</summary>
    public bool? WantsJson { get; set; }

    /// <summary>The prompt (every message's text) must be at least this many characters.</summary>
    public int? MinChars { get; set; }

    /// <summary>The prompt must be at most this many characters.</summary>
    public int? MaxChars { get; set; }
}

/// <summary><c>models:N:cascade</c>: stages run in order; an answer that passes the gate is returned.</summary>
public sealed class CascadeOptions
{
    /// <summary>Model names (kind deployments), cheapest first. The last stage's answer is returned whatever the gate says.</summary>
    public List<string> Stages { get; set; } = [];

    /// <summary>The quality gate every stage but the last must pass.</summary>
    public CascadeGateOptions Gate { get; set; } = new();
}

/// <summary>The checks of a cascade's quality gate; the ones set all apply, cheapest first.</summary>
public sealed class CascadeGateOptions
{
    /// <summary>
    /// The answer must be JSON: valid against the request's <c>response_format.json_schema</c> when
    /// it has one (the guardrails' validator), else any JSON value. Default false.
    /// </summary>
    public bool Json { get; set; }

    /// <summary>Fail answers that refuse ("I can't help with that", "As an AI..."). Default false.</summary>
    public bool Refusal { get; set; }

    /// <summary>The answer must have at least this many characters. 0 (default): no check.</summary>
    public int MinLength { get; set; }

    /// <summary>A judge model that scores the answer; null: no judge.</summary>
    public CascadeJudgeOptions? Judge { get; set; }
}

/// <summary>A model group asked to score a stage's answer from 0 to 10.</summary>
public sealed class CascadeJudgeOptions
{
    /// <summary>The judge's model name (kind deployments).</summary>
    public string Model { get; set; } = "";

    /// <summary>Answers scoring below this fail the gate (0-10). Default 7.</summary>
    public double Threshold { get; set; } = 7;

    /// <summary>Largest answer the judge may give (a number is enough). Default 16.</summary>
    public int MaxTokens { get; set; } = 16;
}

/// <summary><c>models:N:continuation</c>: carry on a stream on another deployment when its upstream dies mid-way.</summary>
public sealed class ContinuationOptions
{
    public bool Enabled { get; set; }

    /// <summary>Takeovers per stream at most. Default 1.</summary>
    public int MaxContinuations { get; set; } = 1;

    /// <summary>
    /// The user turn that asks an OpenAI-style model (anything but Anthropic, whose assistant
    /// prefill continues by itself) to go on from its own partial answer.
    /// </summary>
    public string Prompt { get; set; } = "Continue your previous answer exactly where it stopped, mid-word if need be. Do not repeat anything and do not comment.";
}
