using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Server;

namespace Gateway.Grpc.Server.Rest;

/// <summary>
/// The handlers of the services mapped on the gRPC server, by full method name. REST and JSON
/// transcoding call these very delegates, so whatever the gRPC path runs (validation, routing,
/// and the auth, limits and telemetry that wrap handlers) runs for them too.
/// </summary>
internal sealed class BoundHandlers : ServiceBinderBase
{
    private readonly Dictionary<string, Delegate> _handlers = new(StringComparer.Ordinal);

    public static BoundHandlers From(GrpcServiceRegistry registry)
    {
        var bound = new BoundHandlers();
        foreach (var service in registry.Services)
        {
            service.BindService(bound);
        }

        return bound;
    }

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        => Add(method.FullName, handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
        => Add(method.FullName, handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        => Add(method.FullName, handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        => Add(method.FullName, handler);

    /// <summary>The handler of <paramref name="method"/>; throws naming the service to map when it is missing.</summary>
    public THandler Get<THandler>(string method, string mapFirst)
        where THandler : Delegate
        => _handlers.TryGetValue(method, out var handler) && handler is THandler typed
            ? typed
            : throw new InvalidOperationException($"No handler for {method} is mapped; call MapGrpcService({mapFirst}) before mapping REST endpoints.");

    private void Add(string fullName, Delegate? handler)
    {
        if (handler is not null)
        {
            _handlers[fullName] = handler;
        }
    }
}
