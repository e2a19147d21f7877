using Gateway.Grpc.Protocol.Server.Internal;
using Google.Protobuf.Reflection;

namespace Gateway.Grpc.Protocol.Server;

/// <summary>A service's methods bound to handlers, ready to map onto the server.</summary>
public sealed class ServerServiceDefinition
{
    private ServerServiceDefinition(string serviceName, IReadOnlyList<IServerCallHandler> handlers, FileDescriptor? descriptor)
    {
        ServiceName = serviceName;
        Handlers = handlers;
        Descriptor = descriptor;
    }

    public string ServiceName { get; }

    /// <summary>The .proto file that declares the service, served by reflection.</summary>
    public FileDescriptor? Descriptor { get; }

    internal IReadOnlyList<IServerCallHandler> Handlers { get; }

    /// <summary>
    /// Hands every method and its handler to <paramref name="binder"/>, in the order they were
    /// added, so another transport can call the same handlers.
    /// </summary>
    public void BindService(ServiceBinderBase binder)
    {
        ArgumentNullException.ThrowIfNull(binder);
        foreach (var handler in Handlers)
        {
            handler.Bind(binder);
        }
    }

    public static Builder CreateBuilder(string serviceName, FileDescriptor? descriptor = null) => new(serviceName, descriptor);

    public sealed class Builder
    {
        private readonly string _serviceName;
        private readonly FileDescriptor? _descriptor;
        private readonly List<IServerCallHandler> _handlers = [];

        internal Builder(string serviceName, FileDescriptor? descriptor)
        {
            _serviceName = serviceName;
            _descriptor = descriptor;
        }

        public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse> handler)
            => Add(method, MethodType.Unary, new ServerCallHandler<TRequest, TResponse>(method, unary: handler));

        public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse> handler)
            => Add(method, MethodType.ServerStreaming, new ServerCallHandler<TRequest, TResponse>(method, serverStreaming: handler));

        public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse> handler)
            => Add(method, MethodType.ClientStreaming, new ServerCallHandler<TRequest, TResponse>(method, clientStreaming: handler));

        public Builder AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse> handler)
            => Add(method, MethodType.DuplexStreaming, new ServerCallHandler<TRequest, TResponse>(method, duplex: handler));

        private Builder Add<TRequest, TResponse>(Method<TRequest, TResponse> method, MethodType expected, IServerCallHandler handler)
        {
            if (method.Type != expected)
            {
                throw new ArgumentException($"Method {method.FullName} is {method.Type} but the handler is {expected}.", nameof(method));
            }

            if (method.ServiceName != _serviceName)
            {
                throw new ArgumentException($"Method {method.FullName} does not belong to service {_serviceName}.", nameof(method));
            }

            _handlers.Add(handler);
            return this;
        }

        public ServerServiceDefinition Build() => new(_serviceName, _handlers.ToArray(), _descriptor);
    }
}
