namespace Gateway.Grpc.Observability.AccessLog;

/// <summary>
/// One call as the access log records it. Identifies the caller by key id, never by key; holds
/// prompt and completion text only when the call's <see cref="IBodyCapturePolicy"/> said so.
/// A value: the writer's bounded queue and the console's ring hold entries in place, so a call's
/// line costs no allocation of its own.
/// </summary>
public record struct AccessLogEntry
{
    public AccessLogEntry()
    {
    }

    public DateTimeOffset Timestamp { get; set; }

    public string RequestId { get; set; } = "";

    /// <summary><c>grpc</c> or <c>rest</c>.</summary>
    public string Route { get; set; } = "";

    /// <summary>The RPC or REST operation, e.g. <c>StreamComplete</c>.</summary>
    public string Method { get; set; } = "";

    public bool Stream { get; set; }

    public string? KeyId { get; set; }

    public string? Team { get; set; }

    /// <summary>The model the caller asked for.</summary>
    public string Model { get; set; } = "";

    /// <summary>The provider's model that answered.</summary>
    public string? ResponseModel { get; set; }

    public string? Provider { get; set; }

    public string? Deployment { get; set; }

    /// <summary>Final status: a gRPC status name, e.g. <c>OK</c>, <c>UNAVAILABLE</c>.</summary>
    public string Status { get; set; } = "";

    /// <summary>Normalized error class of a failed call, e.g. <c>rate_limited</c>.</summary>
    public string? ErrorKind { get; set; }

    public string? FinishReason { get; set; }

    public int InputTokens { get; set; }

    public int OutputTokens { get; set; }

    public int CachedInputTokens { get; set; }

    public bool TokensEstimated { get; set; }

    public double CostUsd { get; set; }

    public double LatencyMs { get; set; }

    /// <summary>Time to first output event (streams), milliseconds; null when none was sent.</summary>
    public double? TimeToFirstTokenMs { get; set; }

    public int Attempts { get; set; }

    /// <summary>Every attempt, compact: <c>1:deployment:outcome[:error][:hedged][:fallback]</c>, comma-separated.</summary>
    public string? AttemptTrail { get; set; }

    public bool Fallback { get; set; }

    public bool Hedged { get; set; }

    public bool CacheHit { get; set; }

    /// <summary>Guardrail rules that fired, <c>rule:action:direction</c> comma-separated; never the matched text.</summary>
    public string? GuardrailTriggered { get; set; }

    public string? TraceId { get; set; }

    /// <summary>For a router model: the task class the request was sorted into.</summary>
    public string? TaskClass { get; set; }

    /// <summary>For a router or cascade model: the model that gave the answer.</summary>
    public string? RoutedModel { get; set; }

    /// <summary>Times a stream moved to another deployment mid-way (continuation).</summary>
    public int Continuations { get; set; }

    /// <summary>The request's messages as JSON; only with body capture on.</summary>
    public string? Prompt { get; set; }

    /// <summary>The answer text; only with body capture on.</summary>
    public string? Completion { get; set; }

    /// <summary>This entry as it is, or a copy of it without <see cref="Prompt"/> and <see cref="Completion"/> when it has either.</summary>
    public readonly AccessLogEntry WithoutBodies()
        => Prompt is null && Completion is null ? this : this with { Prompt = null, Completion = null };
}

/// <summary>Where access-log lines go.</summary>
public interface IAccessLog
{
    bool Enabled { get; }

    /// <summary>Queues the entry; never blocks the call (lines are dropped and counted when the sink falls behind).</summary>
    void Write(in AccessLogEntry entry);

    /// <summary>Completes when every line queued so far is written (a wrapper forwards to the log it wraps).</summary>
    Task FlushAsync() => Task.CompletedTask;
}

/// <summary>What a call may capture of its bodies (prompt and completion text).</summary>
[Flags]
public enum BodyCapture
{
    None = 0,

    /// <summary>Prompt and completion in the access-log line.</summary>
    AccessLog = 1,

    /// <summary>The full request (and answer text) as an audit-trail entry.</summary>
    Audit = 2,
}

/// <summary>Who is calling what, for the per-call body-capture decision.</summary>
public readonly record struct BodyCaptureContext(string? Team, string? KeyId, string Model, string Route);

/// <summary>
/// The per-call decision whether bodies are captured. The default follows configuration
/// (<c>accessLog:includeBodies</c>, <c>audit:requestBodies</c>); tenancy replaces it with a
/// per-tenant opt-in. Called once per call, after authentication, before the first output.
/// </summary>
public interface IBodyCapturePolicy
{
    BodyCapture Decide(in BodyCaptureContext context);
}

internal sealed class ConfiguredBodyCapturePolicy(BodyCapture configured) : IBodyCapturePolicy
{
    public BodyCapture Decide(in BodyCaptureContext context) => configured;
}

internal sealed class NullAccessLog : IAccessLog
{
    public static readonly NullAccessLog Instance = new();

    public bool Enabled => false;

    public void Write(in AccessLogEntry entry)
    {
    }
}
