namespace Gateway.Grpc.Observability;

/// <summary>
/// Names of the gateway's telemetry: the ActivitySource and Meter, and the span attribute keys.
/// GenAI keys follow the OpenTelemetry GenAI semantic conventions (development status; the
/// <c>gen_ai.provider.name</c> generation, which replaced <c>gen_ai.system</c>).
/// </summary>
public static class GatewayTelemetryNames
{
    /// <summary>ActivitySource of the call (server) and attempt (client) spans.</summary>
    public const string ActivitySourceName = "Gateway.Grpc";

    /// <summary>Meter of every gateway instrument.</summary>
    public const string MeterName = "Gateway.Grpc";

    /// <summary>Logger category of the access log when it is routed through ILogger.</summary>
    public const string AccessLogCategory = "Gateway.AccessLog";

    /// <summary>The operation every completion is, in GenAI terms.</summary>
    public const string ChatOperation = "chat";
}

/// <summary>Span attribute keys.</summary>
public static class GatewaySpanAttributes
{
    // GenAI semantic conventions.
    public const string OperationName = "gen_ai.operation.name";
    public const string ProviderName = "gen_ai.provider.name";
    public const string RequestModel = "gen_ai.request.model";
    public const string RequestMaxTokens = "gen_ai.request.max_tokens";
    public const string RequestTemperature = "gen_ai.request.temperature";
    public const string RequestTopP = "gen_ai.request.top_p";
    public const string RequestSeed = "gen_ai.request.seed";
    public const string ResponseModel = "gen_ai.response.model";
    public const string ResponseId = "gen_ai.response.id";
    public const string ResponseFinishReasons = "gen_ai.response.finish_reasons";
    public const string UsageInputTokens = "gen_ai.usage.input_tokens";
    public const string UsageOutputTokens = "gen_ai.usage.output_tokens";
    public const string UsageCacheReadInputTokens = "gen_ai.usage.cache_read.input_tokens";

    /// <summary><c>input</c> or <c>output</c>: an attribute of the <c>gen_ai.client.token.usage</c> metric, not of spans.</summary>
    public const string TokenType = "gen_ai.token.type";
    public const string ErrorType = "error.type";

    // RPC semantic conventions (the call span is the server side of a gRPC call).
    public const string RpcSystem = "rpc.system";
    public const string RpcService = "rpc.service";
    public const string RpcMethod = "rpc.method";
    public const string RpcGrpcStatusCode = "rpc.grpc.status_code";

    // The gateway's own.
    public const string Route = "gateway.route";
    public const string Stream = "gateway.stream";
    public const string RequestId = "gateway.request_id";
    public const string Team = "gateway.team";
    public const string KeyId = "gateway.key_id";
    public const string Deployment = "gateway.deployment";
    public const string Attempts = "gateway.attempts";
    public const string AttemptNumber = "gateway.attempt.number";
    public const string AttemptOutcome = "gateway.attempt.outcome";
    public const string Hedged = "gateway.hedged";
    public const string Fallback = "gateway.fallback";
    public const string CacheHit = "gateway.cache_hit";

    /// <summary>Guardrail rules that fired, <c>rule:action:direction</c> comma-separated (never the matched text).</summary>
    public const string GuardrailTriggered = "gateway.guardrail_triggered";
    public const string CostUsd = "gateway.cost_usd";
    public const string TimeToFirstTokenMs = "gateway.ttft_ms";

    /// <summary>
    /// Event on the call span when the first output reached the caller (and on a stream's attempt
    /// span when the provider's first event arrived). The GenAI conventions define no such event,
    /// so it is named in the gateway's namespace, not in <c>gen_ai.*</c>, which they reserve.
    /// </summary>
    public const string FirstTokenEvent = "gateway.first_token";
}
