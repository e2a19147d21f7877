using Grpc.Net.Client.Configuration;

namespace Gateway.Grpc.Client;

/// <summary>Settings of the gateway clients <see cref="GatewayClientServiceCollectionExtensions.AddGatewayClients"/> registers.</summary>
public sealed class GatewayClientOptions
{
    /// <summary>
    /// The gateway's gRPC address, e.g. <c>http://127.0.0.1:50051</c> (HTTP/2 without TLS,
    /// prior knowledge) or an <c>https://</c> address. Required.
    /// </summary>
    public Uri? Address { get; set; }

    /// <summary>
    /// The gateway API key. When set, every call carries <c>authorization: Bearer &lt;key&gt;</c>
    /// unless the call's own metadata already has an <c>authorization</c> entry.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>Deadline applied to calls that set none (default: none; the gateway then applies its own limits).</summary>
    public TimeSpan? DefaultTimeout { get; set; }

    /// <summary>
    /// The channel's service config: retry or hedging policies per method. Default:
    /// <see cref="GatewayServiceConfig.CreateDefault"/>; <c>null</c> turns client retries off.
    /// </summary>
    public ServiceConfig? ServiceConfig { get; set; } = GatewayServiceConfig.CreateDefault();
}
