using Gateway.Grpc.Protocol.Client;

namespace Gateway.Grpc.Client;

/// <summary>
/// All gateway clients over one channel. <see cref="Create(string, GatewayClientOptions?)"/>
/// owns its channel and disposes it; the constructor borrows the one it is given.
/// </summary>
public sealed class GatewayClient : IDisposable
{
    private readonly bool _ownsChannel;

    public GatewayClient(GrpcChannel channel, GatewayClientOptions? settings = null)
        : this(channel, settings ?? new GatewayClientOptions(), ownsChannel: false)
    {
    }

    private GatewayClient(GrpcChannel channel, GatewayClientOptions settings, bool ownsChannel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        Channel = channel;
        _ownsChannel = ownsChannel;
        Completion = new CompletionClient(channel, settings);
        Models = new ModelsClient(channel, settings);
        Health = new HealthClient(channel, settings);
    }

    public GrpcChannel Channel { get; }

    public CompletionClient Completion { get; }

    public ModelsClient Models { get; }

    public HealthClient Health { get; }

    /// <summary>
    /// Connects to a gateway gRPC address, e.g. <c>http://127.0.0.1:50051</c> (h2c) or an
    /// https:// address (HTTP/2 over TLS).
    /// </summary>
    public static GatewayClient Create(string address, GatewayClientOptions? settings = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        settings ??= new GatewayClientOptions();
        return new GatewayClient(GrpcChannel.ForAddress(address, settings.ChannelOptions), settings, ownsChannel: true);
    }

    public void Dispose()
    {
        if (_ownsChannel)
        {
            Channel.Dispose();
        }
    }
}
