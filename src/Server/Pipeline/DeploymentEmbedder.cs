using Gateway.Grpc.Adapters;
using Gateway.Grpc.Caching.Semantic;
using Gateway.Grpc.Server.Dispatch;

namespace Gateway.Grpc.Server.Pipeline;

/// <summary>
/// The semantic cache's embedder when <c>cache.semantic.embedder</c> is <c>model:NAME</c>: the
/// configured model group's deployments whose provider serves embeddings (OpenAI, Azure, Gemini),
/// tried in order while failures are retryable. These calls are the gateway's own: they are not
/// admitted against, billed to or logged for the caller whose prompt is embedded.
/// </summary>
internal sealed class DeploymentEmbedder(ModelCatalog catalog, string model) : ITextEmbedder
{
    public const string Prefix = "model:";

    public string Name => Prefix + model;

    public async ValueTask<float[]> EmbedAsync(string text, CancellationToken cancellationToken)
    {
        if (!catalog.TryGet(model, out var group))
        {
            throw new InvalidOperationException($"cache.semantic.embedder: model '{model}' is not configured.");
        }

        ProviderException? last = null;
        foreach (var deployment in group.Deployments)
        {
            if (!deployment.IsAvailable || deployment.Adapter is not IEmbeddingsAdapter embeddings)
            {
                continue;
            }

            try
            {
                var response = await embeddings.EmbedAsync(new EmbeddingsCall(new EmbeddingsRequest([text]), deployment.Info), cancellationToken).ConfigureAwait(false);
                var vector = response.Embeddings[0];
                MiniLmEmbedder.Normalize(vector);
                return vector;
            }
            catch (ProviderException ex) when (ModelGroup.IsRetryable(ex.Kind))
            {
                last = ex;
            }
        }

        throw last is not null ? last : new InvalidOperationException($"cache.semantic.embedder: model '{model}' has no available deployment whose provider serves embeddings.");
    }
}
