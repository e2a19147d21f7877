using System.Threading.Channels;
using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Gateway.Grpc.Protocol.Server.Health;

/// <summary>
/// Serving status per service name ("" is the whole server), with change notifications for
/// Watch (grpc doc/health-checking.md).
/// </summary>
public sealed class HealthStatusRegistry
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ServingStatus> _statuses = new(StringComparer.Ordinal) { [""] = ServingStatus.Serving };
    private readonly List<(string Service, Channel<ServingStatus> Channel)> _watchers = [];

    public void SetStatus(string service, ServingStatus status)
    {
        lock (_lock)
        {
            _statuses[service] = status;
            foreach (var (name, channel) in _watchers)
            {
                if (name == service)
                {
                    channel.Writer.TryWrite(status);
                }
            }
        }
    }

    public ServingStatus? GetStatus(string service)
    {
        lock (_lock)
        {
            return _statuses.TryGetValue(service, out var status) ? status : null;
        }
    }

    internal (Channel<ServingStatus> Channel, ServingStatus Current) Subscribe(string service)
    {
        var channel = Channel.CreateBounded<ServingStatus>(new BoundedChannelOptions(16) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (_lock)
        {
            _watchers.Add((service, channel));
            return (channel, _statuses.TryGetValue(service, out var status) ? status : ServingStatus.ServiceUnknown);
        }
    }

    internal void Unsubscribe(Channel<ServingStatus> channel)
    {
        lock (_lock)
        {
            _watchers.RemoveAll(w => ReferenceEquals(w.Channel, channel));
        }
    }
}

internal static class HealthService
{
    public const string ServiceName = "grpc.health.v1.Health";

    private static readonly Method<HealthCheckRequest, HealthCheckResponse> CheckMethod = new(
        MethodType.Unary, ServiceName, "Check", Marshallers.Protobuf(HealthCheckRequest.Parser), Marshallers.Protobuf(HealthCheckResponse.Parser));

    private static readonly Method<HealthCheckRequest, HealthCheckResponse> WatchMethod = new(
        MethodType.ServerStreaming, ServiceName, "Watch", Marshallers.Protobuf(HealthCheckRequest.Parser), Marshallers.Protobuf(HealthCheckResponse.Parser));

    public static ServerServiceDefinition CreateDefinition(HealthStatusRegistry registry)
        => ServerServiceDefinition.CreateBuilder(ServiceName, HealthReflection.Descriptor)
            .AddMethod(CheckMethod, (request, _) =>
            {
                var status = registry.GetStatus(request.Service)
                    ?? throw new RpcException(new Status(StatusCode.NotFound, $"Unknown service '{request.Service}'."));
                return Task.FromResult(new HealthCheckResponse { Status = status });
            })
            .AddMethod(WatchMethod, async (request, stream, context) =>
            {
                // Send the current status at once, then every change; an unknown service gets
                // SERVICE_UNKNOWN and the stream stays open (it may appear later).
                var (channel, current) = registry.Subscribe(request.Service);
                try
                {
                    await stream.WriteAsync(new HealthCheckResponse { Status = current }, context.CancellationToken).ConfigureAwait(false);
                    var last = current;
                    await foreach (var status in channel.Reader.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
                    {
                        if (status != last)
                        {
                            last = status;
                            await stream.WriteAsync(new HealthCheckResponse { Status = status }, context.CancellationToken).ConfigureAwait(false);
                        }
                    }
                }
                finally
                {
                    registry.Unsubscribe(channel);
                }
            })
            .Build();
}
