namespace Gateway.Grpc.Simulator;

/// <summary>
/// A scripted fault: queued with <see cref="SimulatorState.EnqueueFault"/> or <c>POST /_sim/faults</c>,
/// consumed by the next <see cref="Count"/> matching generation requests, in queue order.
/// Request headers (<c>x-sim-*</c>) still win over the fields set here.
/// </summary>
public sealed record FaultScript
{
    /// <summary>Only requests of this API: openai, azure, anthropic, gemini or grpc (null = any).</summary>
    public string? Api { get; init; }

    /// <summary>Only requests for this model (Azure: deployment; null = any).</summary>
    public string? Model { get; init; }

    /// <summary>How many matching requests this entry applies to (default 1).</summary>
    public int Count { get; init; } = 1;

    /// <summary>Fail with this HTTP status and the provider's error body for it (gRPC: the mapped status code).</summary>
    public int? Status { get; init; }

    /// <summary>Message for the error body (default: the provider's usual text for the status).</summary>
    public string? Message { get; init; }

    /// <summary>retry-after / retry-after-ms for the error response (429 default: the configured value).</summary>
    public int? RetryAfterMs { get; init; }

    /// <summary>Delay before the response headers.</summary>
    public int? LatencyMs { get; init; }

    public int? TtftMs { get; init; }

    public double? TokensPerSecond { get; init; }

    /// <summary>Natural answer length in tokens.</summary>
    public int? OutputTokens { get; init; }

    /// <summary>Prompt tokens reported as served from the prompt cache.</summary>
    public int? CachedTokens { get; init; }

    /// <summary>Stream this many tokens, then cut the connection without the terminal event.</summary>
    public int? DisconnectAfter { get; init; }

    /// <summary>Stream this many tokens, then the provider's in-stream error event (status from <see cref="Status"/>, default 500).</summary>
    public int? ErrorAfter { get; init; }

    /// <summary>Send an invalid JSON body (unary) or one invalid SSE data line (stream).</summary>
    public bool Malformed { get; init; }

    /// <summary>Answer with the last user message in pieces of this many characters (see x-sim-echo).</summary>
    public int? Echo { get; init; }

    /// <summary>Send the response headers, then nothing until the client goes away.</summary>
    public bool Hang { get; init; }

    internal bool Matches(string api, string? model)
        => (Api is null || string.Equals(Api, api, StringComparison.OrdinalIgnoreCase))
        && (Model is null || string.Equals(Model, model, StringComparison.Ordinal));
}
