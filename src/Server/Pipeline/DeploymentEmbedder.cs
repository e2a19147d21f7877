using Gateway.Grpc.Adapters;
using Gateway.Grpc.Caching.Semantic;
using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Pricing;
using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Server.Dispatch;

namespace Gateway.Grpc.Server.Pipeline;

/// <summary>
/// The semantic cache's embedder when <c>cache.semantic.embedder</c> is <c>model:NAME</c>: the
/// configured model group's deployments whose provider serves embeddings (OpenAI, Azure, Gemini),
/// tried in order while failures are retryable. These calls are the gateway's own: they are not
/// admitted against or billed to the caller whose prompt is embedded, but each one that reached a
/// provider is priced and written to the ledger with no key and no team and the route
/// <see cref="LedgerRoute"/>, so the semantic cache's running cost shows in usage and spend.
/// </summary>
internal sealed class DeploymentEmbedder(ModelCatalog catalog, string model, IPricing pricing, ILedgerSink ledger, TimeProvider timeProvider) : ITextEmbedder
{
    /// <summary>The ledger's <c>route</c> for the cache's own embedding calls.</summary>
    public const string LedgerRoute = "cache_embed";

    public const string Prefix = "model:";

    public string Name => Prefix + model;

    public async ValueTask<float[]> EmbedAsync(string text, CancellationToken cancellationToken)
    {
        if (!catalog.TryGet(model, out var group))
        {
            throw new InvalidOperationException($"cache.semantic.embedder: model '{model}' is not configured.");
        }

        ProviderException? last = null;
        var started = timeProvider.GetTimestamp();
        var attempts = 0;
        foreach (var deployment in group.Deployments)
        {
            if (!deployment.IsAvailable || deployment.Adapter is not IEmbeddingsAdapter embeddings)
            {
                continue;
            }

            attempts++;
            try
            {
                var response = await embeddings.EmbedAsync(new EmbeddingsCall(new EmbeddingsRequest([text]), deployment.Info), cancellationToken).ConfigureAwait(false);
                ledger.Enqueue(new LedgerEntry
                {
                    RequestId = "cache-embed-" + Guid.NewGuid().ToString("N"),
                    Timestamp = timeProvider.GetUtcNow(),
                    Model = model,
                    Deployment = deployment.Info.Name,
                    Provider = deployment.Info.Provider,
                    Route = LedgerRoute,
                    InputTokens = response.InputTokens,
                    CostUsd = pricing.Cost(string.IsNullOrEmpty(deployment.Info.UpstreamModel) ? model : deployment.Info.UpstreamModel, response.InputTokens, 0, 0, out _),
                    LatencyMs = (long)timeProvider.GetElapsedTime(started).TotalMilliseconds,
                    Status = "OK",
                    Estimated = response.Estimated,
                    Attempts = attempts,
                });
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
