using System.Runtime.CompilerServices;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Client;
using Grpc.Health.V1;

namespace Gateway.Grpc.Client;

/// <summary>Serving status of grpc.health.v1 (grpc doc/health-checking.md).</summary>
public enum HealthStatus
{
    Unknown = 0,
    Serving = 1,
    NotServing = 2,

    /// <summary>Only from Watch: the service is not known (yet).</summary>
    ServiceUnknown = 3,
}

/// <summary>Client of <c>grpc.health.v1.Health</c>.</summary>
public sealed class HealthClient
{
    private const string ServiceName = "grpc.health.v1.Health";

    private static readonly Method<HealthCheckRequest, HealthCheckResponse> CheckMethod = new(
        MethodType.Unary, ServiceName, "Check", Marshallers.Protobuf(HealthCheckRequest.Parser), Marshallers.Protobuf(HealthCheckResponse.Parser));

    private static readonly Method<HealthCheckRequest, HealthCheckResponse> WatchMethod = new(
        MethodType.ServerStreaming, ServiceName, "Watch", Marshallers.Protobuf(HealthCheckRequest.Parser), Marshallers.Protobuf(HealthCheckResponse.Parser));

    private readonly GrpcChannel _channel;
    private readonly GatewayClientOptions _settings;

    public HealthClient(GrpcChannel channel, GatewayClientOptions? settings = null)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _channel = channel;
        _settings = settings ?? new GatewayClientOptions();
    }

    /// <summary>
    /// Status of one service ("" = the whole server). An unknown service fails with
    /// <see cref="RpcException"/> NOT_FOUND.
    /// </summary>
    public async Task<HealthStatus> CheckAsync(string service = "", CallOptions options = default)
    {
        ArgumentNullException.ThrowIfNull(service);
        using var call = _channel.AsyncUnaryCall(CheckMethod, new HealthCheckRequest { Service = service }, options.Apply(_settings));
        var response = await call.ResponseAsync.ConfigureAwait(false);
        return (HealthStatus)response.Status;
    }

    /// <summary>The current status at once, then every change, until cancelled.</summary>
    public async IAsyncEnumerable<HealthStatus> Watch(string service = "", CallOptions options = default, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(service);
        using var call = _channel.AsyncServerStreamingCall(WatchMethod, new HealthCheckRequest { Service = service }, options.Apply(_settings));
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            yield return (HealthStatus)call.ResponseStream.Current.Status;
        }
    }
}
