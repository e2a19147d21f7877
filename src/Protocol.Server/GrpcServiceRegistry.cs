using System.Collections.Frozen;
using Gateway.Grpc.Protocol.Server.Internal;
using Google.Protobuf.Reflection;

namespace Gateway.Grpc.Protocol.Server;

/// <summary>The services mapped on this server; the dispatcher and reflection read it.</summary>
public sealed class GrpcServiceRegistry
{
    private readonly Dictionary<string, IServerCallHandler> _handlers = new(StringComparer.Ordinal);
    private readonly List<ServerServiceDefinition> _services = [];
    private readonly HashSet<string> _serviceNames = new(StringComparer.Ordinal);
    private FrozenDictionary<string, IServerCallHandler>? _frozen;

    public IReadOnlyList<ServerServiceDefinition> Services => _services;

    public void Add(ServerServiceDefinition service)
    {
        ArgumentNullException.ThrowIfNull(service);
        if (_frozen is not null)
        {
            throw new InvalidOperationException("Services must be mapped before the server starts handling calls.");
        }

        if (!_serviceNames.Add(service.ServiceName))
        {
            throw new InvalidOperationException($"Service {service.ServiceName} is already mapped.");
        }

        _services.Add(service);
        foreach (var handler in service.Handlers)
        {
            _handlers.Add(handler.FullName, handler);
        }
    }

    public bool HasService(string serviceName) => _serviceNames.Contains(serviceName);

    public IEnumerable<FileDescriptor> Descriptors
    {
        get
        {
            foreach (var service in _services)
            {
                if (service.Descriptor is not null)
                {
                    yield return service.Descriptor;
                }
            }
        }
    }

    internal bool TryGetHandler(string path, out IServerCallHandler handler)
    {
        var frozen = _frozen ??= _handlers.ToFrozenDictionary(StringComparer.Ordinal);
        return frozen.TryGetValue(path, out handler!);
    }
}
