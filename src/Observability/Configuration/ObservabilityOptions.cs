namespace Gateway.Grpc.Observability.Configuration;

/// <summary>
/// <c>telemetry:</c> — traces and metrics export. OTLP export is off unless
/// <c>tracing:enabled</c> or <c>metrics:otlp</c> is set; the Prometheus endpoint is on.
/// </summary>
public sealed class TelemetryOptions
{
    /// <summary><c>service.name</c> of the exported resource.</summary>
    public string ServiceName { get; set; } = "llm-gateway";

    /// <summary>OTLP collector endpoint, e.g. <c>http://127.0.0.1:4317</c> (grpc) or <c>http://127.0.0.1:4318</c> (http/protobuf).</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><c>grpc</c> or <c>http/protobuf</c>.</summary>
    public string OtlpProtocol { get; set; } = "grpc";

    public TracingOptions Tracing { get; set; } = new();

    public MetricsOptions Metrics { get; set; } = new();
}

public sealed class TracingOptions
{
    /// <summary>Export spans by OTLP. Off by default.</summary>
    public bool Enabled { get; set; }

    /// <summary>Share of new traces sampled (0 to 1); a caller's sampled flag is honoured (parent-based).</summary>
    public double SamplingRatio { get; set; } = 1.0;
}

public sealed class MetricsOptions
{
    /// <summary>Serve the Prometheus text exposition on the HTTP port.</summary>
    public bool Prometheus { get; set; } = true;

    /// <summary>Path of the exposition.</summary>
    public string Path { get; set; } = "/metrics";

    /// <summary>Also push metrics by OTLP (needs <c>telemetry:otlpEndpoint</c>).</summary>
    public bool Otlp { get; set; }

    public int OtlpIntervalMs { get; set; } = 15_000;
}

/// <summary><c>accessLog:</c> — one JSON line per call.</summary>
public sealed class AccessLogOptions
{
    public bool Enabled { get; set; }

    /// <summary><c>stdout</c> (default) or a file path (appended to).</summary>
    public string Path { get; set; } = "stdout";

    /// <summary>
    /// Put prompt and completion text in the line. Off by default; the per-call decision goes
    /// through <see cref="Gateway.Grpc.Observability.AccessLog.IBodyCapturePolicy"/>, so tenants can opt in one by one.
    /// </summary>
    public bool IncludeBodies { get; set; }

    /// <summary>Lines buffered for the writer; past this, lines are dropped and counted, never blocking a call.</summary>
    public int QueueCapacity { get; set; } = 10_000;
}

/// <summary><c>audit:</c> — the hash-chained, append-only audit trail.</summary>
public sealed class AuditOptions
{
    /// <summary>JSON-lines file of the trail; empty: no audit trail.</summary>
    public string? Path { get; set; }

    /// <summary>Record every call's full request (and response text) as an audit entry. Off by default; decided per call.</summary>
    public bool RequestBodies { get; set; }

    /// <summary>
    /// Secret reference (env:NAME or file:/path) of the key that makes the chain keyed
    /// (HMAC-SHA256): without it nobody can rewrite entries and re-chain them. Verify with
    /// <c>audit verify FILE --key REF</c>.
    /// </summary>
    public string? HmacKey { get; set; }

    /// <summary>How often the trail's head (newest sequence and hash) is logged when it changed; seconds. Default 60.</summary>
    public int HeadLogIntervalSeconds { get; set; } = 60;
}

/// <summary>Start-up checks; every message names the key and the fix.</summary>
public static class ObservabilityOptionsValidator
{
    public static void Validate(TelemetryOptions telemetry, AccessLogOptions accessLog, AuditOptions audit, ICollection<string> errors)
    {
        ArgumentNullException.ThrowIfNull(telemetry);
        ArgumentNullException.ThrowIfNull(accessLog);
        ArgumentNullException.ThrowIfNull(audit);
        ArgumentNullException.ThrowIfNull(errors);
        var needsOtlp = telemetry.Tracing.Enabled || telemetry.Metrics.Otlp;
        if (!string.IsNullOrEmpty(telemetry.OtlpEndpoint))
        {
            if (!Uri.TryCreate(telemetry.OtlpEndpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                errors.Add($"telemetry:otlpEndpoint: '{telemetry.OtlpEndpoint}' is not an http(s) URL (for example http://127.0.0.1:4317).");
            }
        }
        else if (needsOtlp)
        {
            errors.Add("telemetry:otlpEndpoint: is required when telemetry:tracing:enabled or telemetry:metrics:otlp is true (for example http://127.0.0.1:4317).");
        }

        if (telemetry.OtlpProtocol is not ("grpc" or "http/protobuf"))
        {
            errors.Add($"telemetry:otlpProtocol: '{telemetry.OtlpProtocol}' is not a protocol (use grpc or http/protobuf).");
        }

        if (string.IsNullOrWhiteSpace(telemetry.ServiceName))
        {
            errors.Add("telemetry:serviceName: must not be empty.");
        }

        if (telemetry.Tracing.SamplingRatio is < 0 or > 1 || double.IsNaN(telemetry.Tracing.SamplingRatio))
        {
            errors.Add($"telemetry:tracing:samplingRatio: must be between 0 and 1, got {telemetry.Tracing.SamplingRatio}.");
        }

        if (telemetry.Metrics.Prometheus && (string.IsNullOrEmpty(telemetry.Metrics.Path) || telemetry.Metrics.Path[0] != '/'))
        {
            errors.Add($"telemetry:metrics:path: '{telemetry.Metrics.Path}' must start with '/' (for example /metrics).");
        }

        if (telemetry.Metrics.OtlpIntervalMs < 100)
        {
            errors.Add($"telemetry:metrics:otlpIntervalMs: must be at least 100, got {telemetry.Metrics.OtlpIntervalMs}.");
        }

        if (accessLog.QueueCapacity < 1)
        {
            errors.Add($"accessLog:queueCapacity: must be positive, got {accessLog.QueueCapacity}.");
        }

        if (accessLog.Enabled && !AccessLog.AccessLogWriter.IsStdout(accessLog.Path))
        {
            CheckDirectory(errors, "accessLog:path", accessLog.Path);
        }

        if (!string.IsNullOrEmpty(audit.Path))
        {
            CheckDirectory(errors, "audit:path", audit.Path);
        }
        else if (audit.RequestBodies)
        {
            errors.Add("audit:requestBodies: needs audit:path (the file the trail is written to).");
        }

        if (!string.IsNullOrEmpty(audit.HmacKey) && string.IsNullOrEmpty(audit.Path))
        {
            errors.Add("audit:hmacKey: needs audit:path (the file the trail is written to).");
        }

        if (audit.HeadLogIntervalSeconds < 1)
        {
            errors.Add($"audit:headLogIntervalSeconds: {audit.HeadLogIntervalSeconds} must be 1 or more.");
        }
    }

    private static void CheckDirectory(ICollection<string> errors, string key, string path)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (string.IsNullOrEmpty(directory) || !Directory.Exists(directory))
        {
            errors.Add($"{key}: the directory of '{path}' does not exist; create it or choose another path.");
        }
        else if (Directory.Exists(path))
        {
            errors.Add($"{key}: '{path}' is a directory; give a file path.");
        }
    }
}
