namespace Gateway.Grpc.Simulator;

/// <summary>
/// Fault-injection request headers (HTTP) and metadata keys (gRPC). Values are plain numbers;
/// flags take <c>1</c> or <c>true</c>. A bad value gets a 400 naming the header.
/// </summary>
public static class SimulatorHeaders
{
    /// <summary>Fail with this HTTP status (400-599) and the provider's error body for it. gRPC: mapped to a status code.</summary>
    public const string Status = "x-sim-status";

    /// <summary>gRPC only: fail with this gRPC status code (1-16).</summary>
    public const string GrpcStatus = "x-sim-grpc-status";

    /// <summary>Error message to put in the error body instead of the provider's usual text.</summary>
    public const string Message = "x-sim-message";

    /// <summary>retry-after-ms (and retry-after in whole seconds, rounded up) for the error; 429 default 1000.</summary>
    public const string RetryAfterMs = "x-sim-retry-after-ms";

    /// <summary>Delay before the response headers, in milliseconds.</summary>
    public const string LatencyMs = "x-sim-latency-ms";

    /// <summary>Time to first token, in milliseconds.</summary>
    public const string TtftMs = "x-sim-ttft-ms";

    /// <summary>Output pace (0 = as fast as possible).</summary>
    public const string TokensPerSecond = "x-sim-tokens-per-second";

    /// <summary>Natural answer length in tokens (max_tokens still cuts it).</summary>
    public const string OutputTokens = "x-sim-output-tokens";

    /// <summary>Prompt tokens to report as served from the prompt cache.</summary>
    public const string CachedTokens = "x-sim-cached-tokens";

    /// <summary>Stream this many tokens, then abort the connection without the terminal event.</summary>
    public const string DisconnectAfter = "x-sim-disconnect-after";

    /// <summary>
    /// Answer with the last user message's text, verbatim, in pieces of this many characters
    /// (1..1000): a model that repeats what it was given, so tests can see exactly what reached
    /// the provider come back, split across deltas at known places. With an assistant prefill
    /// (a final assistant turn that starts that text) only the rest of the text is answered.
    /// </summary>
    public const string Echo = "x-sim-echo";

    /// <summary>
    /// Stream this many tokens, then send the provider's in-stream error event (status from
    /// x-sim-status, default 500; Anthropic 529 = overloaded_error) and end the stream. gRPC: the
    /// call fails with the mapped status after N deltas. Ignored by unary requests.
    /// </summary>
    public const string ErrorAfter = "x-sim-error-after";

    /// <summary>Invalid JSON body (unary) or one invalid SSE data payload (stream); gRPC: an unparsable message.</summary>
    public const string Malformed = "x-sim-malformed";

    /// <summary>Send the response headers, then nothing until the client goes away.</summary>
    public const string Hang = "x-sim-hang";

    /// <summary>Response header: the simulator's id of the request (see <see cref="SimulatorState.WaitForEndAsync"/>).</summary>
    public const string RequestId = "x-sim-request-id";
}
