using Gateway.Grpc.Caching.Semantic;
using Gateway.Grpc.Server.Configuration;

namespace Gateway.Grpc.Server.Routing;

/// <summary>The task classifiers of the configured routers, by router model name.</summary>
internal sealed class TaskRouting
{
    private readonly Dictionary<string, TaskClassifier> _classifiers = new(StringComparer.Ordinal);

    public TaskRouting(GatewayOptions options, MiniLmEmbedder? embedder = null)
    {
        foreach (var model in options.Models)
        {
            if (model.Kind == ModelKinds.Router)
            {
                _classifiers[model.Name] = new TaskClassifier(model.Router, embedder);
            }
        }
    }

    /// <summary>True when some router classifies by example embeddings (the MiniLM model is then needed).</summary>
    public static bool NeedsEmbedder(GatewayOptions options)
        => options.Models.Exists(static m => m.Kind == ModelKinds.Router && m.Router.Examples.Count > 0);

    public TaskClassifier Get(string router) => _classifiers[router];

    /// <summary>Loads the embedder and embeds every router's examples (start-up, in the background).</summary>
    public void Warm()
    {
        foreach (var classifier in _classifiers.Values)
        {
            classifier.Warm();
        }
    }
}
