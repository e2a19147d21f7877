namespace Gateway.Grpc.Server.Configuration;

/// <summary>
/// The gateway's configuration. Keys are case-insensitive; in YAML/JSON they sit at the root
/// (<c>grpcAddress</c>, <c>models</c>...), in the environment they take the prefix
/// <c>GATEWAY_</c> with <c>__</c> between levels (<c>GATEWAY_GRPCADDRESS</c>,
/// <c>GATEWAY_MODELS__0__NAME</c>).
/// </summary>
public sealed class GatewayOptions
{
    /// <summary>h2c endpoint for gRPC, <c>host:port</c>. Default loopback only.</summary>
    public string GrpcAddress { get; set; } = "127.0.0.1:50051";

    /// <summary>HTTP/1.1 endpoint for REST, health and metrics, <c>host:port</c>.</summary>
    public string HttpAddress { get; set; } = "127.0.0.1:8080";

    /// <summary>Largest request message accepted on gRPC, in bytes (default 4 MiB).</summary>
    public int MaxReceiveMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>HTTP/2 streams per connection (Kestrel's default of 100 is low for load tools).</summary>
    public int MaxStreamsPerConnection { get; set; } = 1000;

    /// <summary>
    /// After this many seconds without a completion call (and none in flight) the gateway runs one
    /// compacting full GC that returns freed memory to the OS, so a gateway left idle after a burst
    /// shrinks back towards its start-up size. 0 turns it off. Default 15.
    /// </summary>
    public int IdleTrimSeconds { get; set; } = 15;

    /// <summary>Minimum log level: Trace, Debug, Information, Warning, Error.</summary>
    public string LogLevel { get; set; } = "Information";

    /// <summary>Put handler exception messages in grpc-message (off in production).</summary>
    public bool DetailedErrors { get; set; }

    /// <summary>gRPC-Web for browsers (<c>grpcWeb:</c>): on for every service; cross-origin callers need <c>allowedOrigins</c>.</summary>
    public GrpcWebOptions GrpcWeb { get; set; } = new();

    /// <summary>The public model names and the deployments behind each. Empty: the embedded default.</summary>
    public List<ModelOptions> Models { get; set; } = [];

    public AuthOptions Auth { get; set; } = new();

    public StoreOptions Store { get; set; } = new();

    public RateLimitOptions RateLimits { get; set; } = new();

    public BudgetOptions Budgets { get; set; } = new();

    /// <summary>Prices per model (US$ per million tokens), overriding the built-in table.</summary>
    public Dictionary<string, PriceOptions> Pricing { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Traces and metrics export (<c>telemetry:</c>); see docs/OBSERVABILITY.md.</summary>
    public Gateway.Grpc.Observability.Configuration.TelemetryOptions Telemetry { get; set; } = new();

    /// <summary>One JSON line per call (<c>accessLog:</c>).</summary>
    public Gateway.Grpc.Observability.Configuration.AccessLogOptions AccessLog { get; set; } = new();

    /// <summary>Input and output guardrails (<c>guardrails:</c>); see README "Guardrails".</summary>
    public GuardrailsOptions Guardrails { get; set; } = new();

    /// <summary>The hash-chained audit trail (<c>audit:</c>).</summary>
    public Gateway.Grpc.Observability.Configuration.AuditOptions Audit { get; set; } = new();
}

public sealed class GrpcWebOptions
{
    /// <summary>Serve gRPC-Web (application/grpc-web, application/grpc-web-text) beside gRPC. Default on.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Browser origins allowed to call cross-origin (CORS), e.g. <c>https://app.example.com</c>;
    /// <c>*</c> allows any origin (credentials are then not allowed). Empty (default): same-origin only.
    /// </summary>
    public List<string> AllowedOrigins { get; set; } = [];
}

public sealed class BudgetOptions
{
    /// <summary>URL that receives a JSON POST for each budget alert (50, 80, 100 %); empty = none.</summary>
    public string? AlertWebhook { get; set; }
}

public sealed class AuthOptions
{
    /// <summary>The admin (master) key as a secret reference: env:NAME or file:/path. Enables the admin API.</summary>
    public string? MasterKey { get; set; }

    /// <summary>Require a key on every call. Default: required when a master key is set, open dev mode otherwise.</summary>
    public bool? RequireKeys { get; set; }
}

public sealed class StoreOptions
{
    /// <summary>sqlite (embedded default), postgres or memory.</summary>
    public string Kind { get; set; } = "sqlite";

    /// <summary>SQLite database file; relative to the current directory, its directory is created.</summary>
    public string Path { get; set; } = "data/gateway.db";

    /// <summary>PostgreSQL connection string, as a secret reference.</summary>
    public string? ConnectionString { get; set; }
}

public sealed class RateLimitOptions
{
    /// <summary>Default algorithm for RPM/TPM limits: sliding-window or gcra.</summary>
    public string Algorithm { get; set; } = "sliding-window";

    /// <summary>Output tokens reserved for a call without max_tokens until its usage is known.</summary>
    public int DefaultOutputReservation { get; set; } = 256;

    /// <summary>local (this process) or redis (shared by every replica).</summary>
    public string Backend { get; set; } = "local";

    /// <summary>With the redis backend: when Redis is unreachable, serve on local limits (true) or refuse (false).</summary>
    public bool FailOpen { get; set; } = true;

    public RedisSettings Redis { get; set; } = new();
}

public sealed class RedisSettings
{
    public string Endpoint { get; set; } = "127.0.0.1:6379";

    /// <summary>Password as a secret reference (env:NAME or file:/path).</summary>
    public string? Password { get; set; }

    public string? User { get; set; }

    public int Database { get; set; }

    /// <summary>A limit decision waits at most this long for Redis before failing over.</summary>
    public int CommandTimeoutMs { get; set; } = 250;
}

/// <summary>US$ per million tokens for one model.</summary>
public sealed class PriceOptions
{
    public double Input { get; set; }

    public double Output { get; set; }

    /// <summary>Prompt tokens served from the provider's cache. Unset: billed at <see cref="Input"/> (never below the real price).</summary>
    public double? CachedInput { get; set; }

    internal Gateway.Grpc.Governance.Pricing.ModelPrice ToModelPrice()
        => new((decimal)Input, (decimal)Output, (decimal)(CachedInput ?? Input));
}

public sealed class ModelOptions
{
    /// <summary>Public name callers put in <c>model</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Shown in ListModels; defaults to the first deployment's provider.</summary>
    public string? OwnedBy { get; set; }

    public int ContextWindow { get; set; }

    public List<DeploymentOptions> Deployments { get; set; } = [];

    /// <summary>Requests per minute for this model across all callers (null = no limit).</summary>
    public int? RequestsPerMinute { get; set; }

    /// <summary>Tokens per minute for this model across all callers (null = no limit).</summary>
    public int? TokensPerMinute { get; set; }

    /// <summary>How a deployment is picked: weighted, round-robin, least-in-flight, lowest-latency, lowest-cost.</summary>
    public string Strategy { get; set; } = "round-robin";

    /// <summary>Models (by name) tried in order when this one fails with a rate limit, 5xx, overload, timeout or connection error.</summary>
    public List<string> Fallbacks { get; set; } = [];

    /// <summary>Models tried when the prompt exceeds this model's context window (larger-context models).</summary>
    public List<string> ContextFallbacks { get; set; } = [];

    /// <summary>Models tried when the provider's content filter refuses the request (empty: no fallback).</summary>
    public List<string> ContentFilterFallbacks { get; set; } = [];

    public RetryOptions Retry { get; set; } = new();

    public CircuitBreakerOptions CircuitBreaker { get; set; } = new();

    public HedgingOptions Hedging { get; set; } = new();

    public TimeoutOptions Timeouts { get; set; } = new();

    /// <summary>Guardrails every call to this model gets, whoever calls (the stronger action wins against the caller's).</summary>
    public ModelGuardrailOptions Guardrails { get; set; } = new();
}

/// <summary>Retries within one model group (each retry may go to another deployment).</summary>
public sealed class RetryOptions
{
    /// <summary>Attempts per model group, first one included (1 = no retry).</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>First backoff; doubles each retry, with jitter.</summary>
    public int BaseDelayMs { get; set; } = 100;

    public int MaxDelayMs { get; set; } = 2000;

    /// <summary>A provider's Retry-After is honoured up to this cap; longer waits go to the fallback instead.</summary>
    public int MaxRetryAfterMs { get; set; } = 5000;

    /// <summary>Retry budget: retries allowed as a fraction of requests over the last 10 s (stops retry storms).</summary>
    public double BudgetRatio { get; set; } = 0.2;

    /// <summary>Retries always allowed per second regardless of the ratio.</summary>
    public int BudgetMinPerSecond { get; set; } = 5;
}

/// <summary>Per-deployment circuit breaker (Polly).</summary>
public sealed class CircuitBreakerOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Failure ratio over the sampling window that opens the circuit.</summary>
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>Calls needed in the window before the ratio counts.</summary>
    public int MinimumThroughput { get; set; } = 10;

    public int SamplingDurationMs { get; set; } = 10_000;

    /// <summary>How long the circuit stays open before a half-open probe.</summary>
    public int BreakDurationMs { get; set; } = 5_000;
}

/// <summary>Hedging: a second attempt on another deployment when the first is slow.</summary>
public sealed class HedgingOptions
{
    public bool Enabled { get; set; }

    /// <summary>Fixed delay before a hedge (unary: whole answer; streams: first token).</summary>
    public int DelayMs { get; set; } = 1000;

    /// <summary>Use the deployment's observed p95 latency (unary) / time to first token (streams) as the delay, once it has 20 samples.</summary>
    public bool Adaptive { get; set; }

    /// <summary>Hedges per attempt at most.</summary>
    public int MaxHedges { get; set; } = 1;
}

public sealed class TimeoutOptions
{
    /// <summary>Upper bound for one attempt (also capped by the caller's remaining deadline).</summary>
    public int AttemptMs { get; set; } = 60_000;

    /// <summary>Time to first token for streams, response headers included.</summary>
    public int FirstTokenMs { get; set; } = 20_000;

    /// <summary>No new attempt starts with less than this left of the caller's deadline.</summary>
    public int MinAttemptBudgetMs { get; set; } = 20;
}

public sealed class DeploymentOptions
{
    /// <summary>Unique deployment name, e.g. "openai-eu-1".</summary>
    public string Name { get; set; } = "";

    /// <summary>Provider kind: simulated (more arrive with the adapters).</summary>
    public string Provider { get; set; } = "";

    /// <summary>The model name the provider knows; defaults to the public model name.</summary>
    public string? UpstreamModel { get; set; }

    /// <summary>Requests per minute this deployment may receive (the provider's own limit); null = none.</summary>
    public int? RequestsPerMinute { get; set; }

    /// <summary>Tokens per minute this deployment may receive; null = none.</summary>
    public int? TokensPerMinute { get; set; }

    /// <summary>Relative weight for the weighted strategy.</summary>
    public int Weight { get; set; } = 1;

    /// <summary>US$ per million input tokens, for the lowest-cost strategy (0 = unknown).</summary>
    public double InputCostPerMillion { get; set; }

    /// <summary>US$ per million output tokens, for the lowest-cost strategy.</summary>
    public double OutputCostPerMillion { get; set; }

    /// <summary>Provider-specific settings (for simulated: ttft_ms, tokens_per_second, output_tokens).</summary>
    public Dictionary<string, string> Settings { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}
