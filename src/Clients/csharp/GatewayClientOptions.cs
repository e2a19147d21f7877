using Gateway.Grpc.Protocol.Client;

namespace Gateway.Grpc.Client;

/// <summary>Settings shared by every call a gateway client makes.</summary>
public sealed class GatewayClientOptions
{
    /// <summary>
    /// The gateway API key. When set, every call carries <c>authorization: Bearer &lt;key&gt;</c>
    /// unless the call's own metadata already has an <c>authorization</c> entry.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>Deadline applied to calls that do not set one (default: none).</summary>
    public TimeSpan? DefaultTimeout { get; set; }

    /// <summary>Options of the channel <see cref="GatewayClient.Create(string, GatewayClientOptions?)"/> creates.</summary>
    public GrpcChannelOptions? ChannelOptions { get; set; }
}
