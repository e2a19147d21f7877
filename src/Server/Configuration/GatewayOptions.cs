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

    /// <summary>
    /// Caps on what one request may carry, on both doors (<c>requestLimits:</c>): REST body size,
    /// messages, prompt characters, tools, metadata entries, header size. See README "Hostile and
    /// oversized input".
    /// </summary>
    public RequestLimitOptions RequestLimits { get; set; } = new();

    /// <summary>HTTP/2 streams per connection (Kestrel's default of 100 is low for load tools).</summary>
    public int MaxStreamsPerConnection { get; set; } = 1000;

    /// <summary>
    /// After this many seconds without a completion call (and none in flight) the gateway runs one
    /// compacting full GC that returns freed memory to the OS, so a gateway left idle after a burst
    /// shrinks back towards its start-up size. 0 turns it off. Default 15.
    /// </summary>
    public int IdleTrimSeconds { get; set; } = 15;

    /// <summary>
    /// After this many seconds without a completion call (and none in flight) the tokenizer
    /// vocabularies are released (about 40 MB for o200k_base) and the idle trim runs again to give
    /// them back; the next call that needs a token count loads them again (about half a second of
    /// CPU). Needs <see cref="IdleTrimSeconds"/> on. 0 keeps them loaded. Default 120.
    /// </summary>
    public int TokenizerIdleSeconds { get; set; } = 120;

    /// <summary>Minimum log level: Trace, Debug, Information, Warning, Error.</summary>
    public string LogLevel { get; set; } = "Information";

    /// <summary>Put handler exception messages in grpc-message (off in production).</summary>
    public bool DetailedErrors { get; set; }

    /// <summary>Graceful shutdown (<c>shutdown:</c>): readiness goes false first, then in-flight calls drain.</summary>
    public ShutdownOptions Shutdown { get; set; } = new();

    /// <summary>TLS and mutual TLS on both listeners (<c>tls:</c>), from PEM files reloaded when they change.</summary>
    public TlsOptions Tls { get; set; } = new();

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

    /// <summary>The response cache (<c>cache:</c>): exact and semantic, in memory or Redis. Off by default.</summary>
    public Gateway.Grpc.Caching.Configuration.CacheOptions Cache { get; set; } = new();

    /// <summary>The web console at /ui (<c>console:</c>); see README "Web console".</summary>
    public Gateway.Grpc.Console.Configuration.ConsoleOptions Console { get; set; } = new();
}

public sealed class ShutdownOptions
{
    /// <summary>
    /// Seconds between SIGTERM and closing the listeners, while /readyz already says "draining":
    /// time for a load balancer to stop sending new calls. Default 0 (Kubernetes users often set a few seconds).
    /// </summary>
    public int DrainDelaySeconds { get; set; }

    /// <summary>Longest wait for in-flight calls (streams included) once the listeners close; then they are aborted. Default 30.</summary>
    public int GracePeriodSeconds { get; set; } = 30;
}

public sealed class TlsOptions
{
    /// <summary>PEM certificate (the leaf first, then any intermediates). Set with <see cref="KeyFile"/> to serve TLS on both listeners.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM private key of the certificate (PKCS#8, PKCS#1 or SEC1, unencrypted).</summary>
    public string? KeyFile { get; set; }

    /// <summary>PEM CA certificate(s) that client certificates must chain to. Set: mutual TLS.</summary>
    public string? ClientCaFile { get; set; }

    /// <summary>With <see cref="ClientCaFile"/>: <c>require</c> (default) refuses a connection without a valid client certificate; <c>allow</c> accepts none, but refuses an invalid one.</summary>
    public string ClientCertificateMode { get; set; } = "require";

    /// <summary>How often the files are checked for a change (seconds). New connections use the new certificate; open ones keep theirs.</summary>
    public int ReloadIntervalSeconds { get; set; } = 5;

    public bool Enabled => !string.IsNullOrEmpty(CertificateFile) || !string.IsNullOrEmpty(KeyFile);
}

/// <summary>
/// Size limits checked before a request is dispatched (and, for the REST body, before it is read
/// whole). Defaults follow OpenAI's own API limits where it has one.
/// </summary>
public sealed class RequestLimitOptions
{
    /// <summary>
    /// Largest REST request body in bytes; larger bodies get 413 before they are buffered whole
    /// (at once when Content-Length says so). Unset: 4 x <see cref="GatewayOptions.MaxReceiveMessageSize"/>
    /// (16 MiB by default): JSON is larger than protobuf and images travel as base64.
    /// </summary>
    public long? MaxBodyBytes { get; set; }

    /// <summary>Messages per request (OpenAI's limit: 2048).</summary>
    public int MaxMessages { get; set; } = 2048;

    /// <summary>
    /// Characters of prompt text per request, all messages, tool calls and tool definitions together
    /// (about 1M tokens of English). Checked before any token is counted.
    /// </summary>
    public int MaxPromptChars { get; set; } = 4_000_000;

    /// <summary>Tool (function) definitions per request (OpenAI's limit: 128).</summary>
    public int MaxTools { get; set; } = 128;

    /// <summary>Metadata entries per request (OpenAI's limit: 16; keys up to 64 characters, values up to 512).</summary>
    public int MaxMetadataEntries { get; set; } = 16;

    /// <summary>
    /// Total size of a request's headers in bytes (names and values), on both doors. Larger gets
    /// 431 on REST and INVALID_ARGUMENT on gRPC, in the door's error shape (Kestrel's own hard limit is
    /// set to twice this, so the gateway, not Kestrel, answers).
    /// </summary>
    public int MaxHeaderBytes { get; set; } = 32 * 1024;

    /// <summary>The REST body limit in effect.</summary>
    internal long BodyBytes(GatewayOptions options) => MaxBodyBytes ?? (long)options.MaxReceiveMessageSize * 4;
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

    /// <summary>
    /// With <c>rateLimits.backend: redis</c> (budgets are then shared): how long a call's budget
    /// reservation lives in Redis if its replica dies before settling it. Longer than your longest
    /// call. Default 600.
    /// </summary>
    public int ReservationTtlSeconds { get; set; } = 600;

    /// <summary>With shared budgets: how often each replica raises the shared spend counters to the ledger's sums. Default 30.</summary>
    public int ReconcileSeconds { get; set; } = 30;
}

public sealed class AuthOptions
{
    /// <summary>The admin (master) key as a secret reference: env:NAME or file:/path. Enables the admin API.</summary>
    public string? MasterKey { get; set; }

    /// <summary>Require a key on every call. Default: required when a master key or <c>jwt</c> is set, open dev mode otherwise.</summary>
    public bool? RequireKeys { get; set; }

    /// <summary>Bearer JWTs (OIDC access tokens) accepted beside virtual keys; null = none.</summary>
    public JwtOptions? Jwt { get; set; }
}

/// <summary>
/// <c>auth.jwt</c>: bearer JWTs from one issuer, checked against its JWKS and mapped to a team,
/// allowed models and a subject. See README "Bearer JWTs (OIDC)".
/// </summary>
public sealed class JwtOptions
{
    /// <summary>The exact <c>iss</c> tokens must carry.</summary>
    public string? Issuer { get; set; }

    /// <summary>The <c>aud</c> tokens for this gateway carry (or use <see cref="Audiences"/> for several).</summary>
    public string? Audience { get; set; }

    public List<string> Audiences { get; set; } = [];

    /// <summary>The issuer's key set: <c>file:/path/jwks.json</c> or an https URL (http only on loopback).</summary>
    public string? Jwks { get; set; }

    /// <summary>Claim naming the caller's team id (the team must exist). Unset: JWT callers have no team.</summary>
    public string? TeamClaim { get; set; }

    /// <summary>Claim listing the models the caller may use (array or space-separated). Unset: not read.</summary>
    public string? ModelsClaim { get; set; }

    /// <summary>Claim giving the caller's stable id, recorded as <c>jwt:&lt;value&gt;</c>. Default <c>sub</c>.</summary>
    public string SubjectClaim { get; set; } = "sub";

    /// <summary>Tolerance for exp/nbf, in seconds (0-300). Default 30.</summary>
    public int ClockSkewSeconds { get; set; } = 30;

    /// <summary>Keys are fetched again in the background after this many minutes. Default 60.</summary>
    public int RefreshMinutes { get; set; } = 60;

    /// <summary>An unknown <c>kid</c> triggers a fetch at most once per this many seconds. Default 30.</summary>
    public int MinRefreshSeconds { get; set; } = 30;

    /// <summary>Accepted <c>alg</c> values; empty = every RS*, PS* and ES* algorithm.</summary>
    public List<string> Algorithms { get; set; } = [];
}

public sealed class StoreOptions
{
    /// <summary>sqlite (embedded default), postgres or memory.</summary>
    public string Kind { get; set; } = "sqlite";

    /// <summary>SQLite database file; relative to the current directory, its directory is created.</summary>
    public string Path { get; set; } = "data/gateway.db";

    /// <summary>PostgreSQL connection string, as a secret reference.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// How long a call waits for its ledger row to be committed before its answer goes out
    /// (milliseconds; 0 = only queued, the default). Set it when replicas can be killed: an answered
    /// call is then in the ledger even if its replica dies right after. Not waited while the store is failing.
    /// </summary>
    public int LedgerCommitWaitMs { get; set; }
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

    /// <summary>
    /// Tokens the model holds, prompt and output together. Before dispatch the gateway counts the
    /// prompt and refuses (or takes <see cref="ContextFallbacks"/>) when prompt + max_tokens does
    /// not fit. 0 (default): unknown, not checked.
    /// </summary>
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

    /// <summary>
    /// <c>deployments</c> (default: the model is served by its deployments), <c>router</c> (a task
    /// classifier picks another model, <see cref="Router"/>) or <c>cascade</c> (models tried in
    /// order until an answer passes a quality gate, <see cref="Cascade"/>). See README "Smarter routing".
    /// </summary>
    public string Kind { get; set; } = ModelKinds.Deployments;

    /// <summary>For <c>kind: router</c>: task classes, the rules and examples that find them, and the model for each.</summary>
    public TaskRouterOptions Router { get; set; } = new();

    /// <summary>For <c>kind: cascade</c>: the stages and their quality gate.</summary>
    public CascadeOptions Cascade { get; set; } = new();

    /// <summary>Mid-stream continuation on another deployment when an upstream stream dies after output began. Off by default.</summary>
    public ContinuationOptions Continuation { get; set; } = new();
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
    /// <summary>
    /// This deployment's context window in tokens when it differs from the model's
    /// <see cref="ModelOptions.ContextWindow"/> (a regional deployment on a smaller variant).
    /// Unset: the model's. 0: unknown (never refused before dispatch).
    /// </summary>
    public int? ContextWindow { get; set; }

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

    /// <summary>
    /// What the deployment can take: any of <c>vision</c>, <c>tools</c>, <c>json_schema</c>.
    /// Unset (default): not declared, every capability assumed. Set (even empty): only those; a
    /// request that needs another one is never sent here.
    /// </summary>
    public List<string>? Capabilities { get; set; }

    /// <summary>Largest <c>max_tokens</c> the deployment accepts; requests asking for more skip it. 0 (default): unknown.</summary>
    public int MaxOutputTokens { get; set; }
}
