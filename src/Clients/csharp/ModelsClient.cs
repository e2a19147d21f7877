using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Client;
using Gateway.V1;

namespace Gateway.Grpc.Client;

/// <summary>Client of <c>gateway.v1.Models</c>.</summary>
public sealed class ModelsClient
{
    private readonly GrpcChannel _channel;
    private readonly GatewayClientOptions _settings;

    public ModelsClient(GrpcChannel channel, GatewayClientOptions? settings = null)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _channel = channel;
        _settings = settings ?? new GatewayClientOptions();
    }

    /// <summary>Lists the public model names the caller may use. Throws <see cref="RpcException"/> on failure.</summary>
    public async Task<ListModelsResponse> ListModelsAsync(ListModelsRequest? request = null, CallOptions options = default)
    {
        using var call = _channel.AsyncUnaryCall(ModelsMethods.ListModels, request ?? new ListModelsRequest(), options.Apply(_settings));
        return await call.ResponseAsync.ConfigureAwait(false);
    }
}
