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

    /// <summary>Put handler exception messages in grpc-message (off in production).</summary>
    public bool DetailedErrors { get; set; }

    /// <summary>The public model names and the deployments behind each. Empty: the embedded default.</summary>
    public List<ModelOptions> Models { get; set; } = [];
}

public sealed class ModelOptions
{
    /// <summary>Public name callers put in <c>model</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Shown in ListModels; defaults to the first deployment's provider.</summary>
    public string? OwnedBy { get; set; }

    public int ContextWindow { get; set; }

    public List<DeploymentOptions> Deployments { get; set; } = [];
}

public sealed class DeploymentOptions
{
    /// <summary>Unique deployment name, e.g. "openai-eu-1".</summary>
    public string Name { get; set; } = "";

    /// <summary>Provider kind: simulated (more arrive with the adapters).</summary>
    public string Provider { get; set; } = "";

    /// <summary>The model name the provider knows; defaults to the public model name.</summary>
    public string? UpstreamModel { get; set; }

    /// <summary>Provider-specific settings (for simulated: ttft_ms, tokens_per_second, output_tokens).</summary>
    public Dictionary<string, string> Settings { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}
