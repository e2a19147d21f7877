using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Simulator;

/// <summary>How the simulator listens and behaves by default. Per-request headers override it.</summary>
public sealed class SimulatorOptions
{
    /// <summary>HTTP/1.1 endpoint for the provider APIs and the admin API, <c>host:port</c> (port 0 = pick a free one).</summary>
    public string HttpAddress { get; set; } = "127.0.0.1:0";

    /// <summary>h2c endpoint for gateway.v1 over gRPC, <c>host:port</c> (port 0 = pick a free one).</summary>
    public string GrpcAddress { get; set; } = "127.0.0.1:0";

    /// <summary>Time to first token in milliseconds (0 = none).</summary>
    public int TtftMs { get; set; }

    /// <summary>Output pace in tokens per second (0 = as fast as possible).</summary>
    public double TokensPerSecond { get; set; }

    /// <summary>Natural answer length in tokens; null = a deterministic length between 16 and 63.</summary>
    public int? OutputTokens { get; set; }

    /// <summary>
    /// Fraction of generation requests (0 to 1) that fail with <see cref="FaultStatus"/>. Deterministic:
    /// request n fails when floor(n*rate) &gt; floor((n-1)*rate), so 0.2 fails every 5th request.
    /// </summary>
    public double FaultRate { get; set; }

    /// <summary>Status used by <see cref="FaultRate"/> failures.</summary>
    public int FaultStatus { get; set; } = 503;

    /// <summary>retry-after(-ms) sent with 429 responses when the request does not say (milliseconds).</summary>
    public int RetryAfterMs { get; set; } = 1000;

    /// <summary>When set, every provider API requires exactly this key; otherwise any non-empty key is accepted.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Models listed by the model-list endpoints (any model name is accepted in requests).</summary>
    public IList<string> Models { get; } = new List<string>
    {
        "sim-small", "sim-large", "gpt-4o-mini", "gpt-4o", "text-embedding-3-small",
        "claude-sonnet-5-5", "claude-haiku-4-5", "gemini-2.5-flash", "gemini-embedding-001",
    };

    /// <summary>How many requests the log keeps (oldest dropped first); 0 = keep none (benchmarks).</summary>
    public int MaxRecordedRequests { get; set; } = 10_000;

    /// <summary>Clock for pacing and timestamps (tests may pass a fake one).</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>Minimum log level (default Warning: the simulator is quiet inside tests and benchmarks).</summary>
    public LogLevel LogLevel { get; set; } = LogLevel.Warning;

    /// <summary>Checks the options; returns one message per problem, naming the option and the fix.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Internal.EndpointParser.TryParse(HttpAddress, out _))
        {
            errors.Add($"HttpAddress '{HttpAddress}' is not host:port (e.g. 127.0.0.1:9000; port 0 picks a free port).");
        }

        if (!Internal.EndpointParser.TryParse(GrpcAddress, out _))
        {
            errors.Add($"GrpcAddress '{GrpcAddress}' is not host:port (e.g. 127.0.0.1:9001; port 0 picks a free port).");
        }

        if (TtftMs < 0)
        {
            errors.Add($"TtftMs must be >= 0 (got {TtftMs}).");
        }

        if (TokensPerSecond < 0 || double.IsNaN(TokensPerSecond) || double.IsInfinity(TokensPerSecond))
        {
            errors.Add($"TokensPerSecond must be a finite number >= 0 (got {TokensPerSecond}); 0 means no pacing.");
        }

        if (OutputTokens is < 1 or > 100_000)
        {
            errors.Add($"OutputTokens must be between 1 and 100000 (got {OutputTokens}).");
        }

        if (FaultRate < 0 || FaultRate > 1 || double.IsNaN(FaultRate))
        {
            errors.Add($"FaultRate must be between 0 and 1 (got {FaultRate}).");
        }

        if (FaultStatus is < 400 or > 599)
        {
            errors.Add($"FaultStatus must be an HTTP error status 400-599 (got {FaultStatus}).");
        }

        if (RetryAfterMs < 0)
        {
            errors.Add($"RetryAfterMs must be >= 0 (got {RetryAfterMs}).");
        }

        if (MaxRecordedRequests < 0)
        {
            errors.Add($"MaxRecordedRequests must be >= 0 (got {MaxRecordedRequests}); 0 disables the request log.");
        }

        if (ApiKey is { Length: 0 })
        {
            errors.Add("ApiKey must be null (accept any key) or non-empty.");
        }

        return errors;
    }
}
