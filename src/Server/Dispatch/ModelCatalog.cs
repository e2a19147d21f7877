using Gateway.Grpc.Adapters;
using Gateway.Grpc.Server.Configuration;

namespace Gateway.Grpc.Server.Dispatch;

/// <summary>A deployment ready to call: its description and the adapter that speaks to it.</summary>
internal sealed record Deployment(DeploymentInfo Info, IProviderAdapter Adapter);

/// <summary>A public model name and the deployments behind it.</summary>
internal sealed class ModelGroup(string name, string ownedBy, int contextWindow, IReadOnlyList<Deployment> deployments)
{
    private int _next = -1;

    public string Name { get; } = name;

    public string OwnedBy { get; } = ownedBy;

    public int ContextWindow { get; } = contextWindow;

    public IReadOnlyList<Deployment> Deployments { get; } = deployments;

    /// <summary>Round-robin over the group's deployments.</summary>
    public Deployment Pick()
    {
        var index = (int)((uint)Interlocked.Increment(ref _next) % (uint)Deployments.Count);
        return Deployments[index];
    }

    public Deployment? Find(string deploymentName)
    {
        foreach (var d in Deployments)
        {
            if (d.Info.Name == deploymentName)
            {
                return d;
            }
        }

        return null;
    }
}

/// <summary>The models the gateway serves, built once from configuration.</summary>
internal sealed class ModelCatalog
{
    private readonly Dictionary<string, ModelGroup> _groups;

    public ModelCatalog(GatewayOptions options, IEnumerable<IProviderAdapter> adapters)
    {
        var byProvider = adapters.ToDictionary(a => a.Provider, StringComparer.Ordinal);
        _groups = new Dictionary<string, ModelGroup>(StringComparer.Ordinal);
        foreach (var model in options.Models)
        {
            var deployments = model.Deployments
                .Select(d => new Deployment(
                    new DeploymentInfo(d.Name, d.Provider, string.IsNullOrEmpty(d.UpstreamModel) ? model.Name : d.UpstreamModel) { Settings = new Dictionary<string, string>(d.Settings, StringComparer.OrdinalIgnoreCase) },
                    byProvider[d.Provider]))
                .ToArray();
            _groups[model.Name] = new ModelGroup(model.Name, model.OwnedBy ?? model.Deployments[0].Provider, model.ContextWindow, deployments);
        }

        Names = _groups.Keys.Order(StringComparer.Ordinal).ToArray();
    }

    public IReadOnlyList<string> Names { get; }

    public IEnumerable<ModelGroup> Groups => Names.Select(n => _groups[n]);

    public bool TryGet(string name, out ModelGroup group) => _groups.TryGetValue(name, out group!);
}
