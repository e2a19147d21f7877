namespace Gateway.Grpc.Protocol.Server;

/// <summary>
/// Receives a service's methods and their handlers from
/// <see cref="ServerServiceDefinition.BindService"/>. Other transports (REST, JSON transcoding)
/// use it to call exactly the handlers the gRPC server calls, with their own
/// <see cref="ServerCallContext"/>. Every overload does nothing unless overridden, as in
/// Grpc.Core.Api.
/// </summary>
public abstract class ServiceBinderBase
{
    public virtual void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
    {
    }

    public virtual void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
    {
    }

    public virtual void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
    {
    }

    public virtual void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
    {
    }
}
