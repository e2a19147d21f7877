using Gateway.Grpc.Adapters.Secrets;
using Gateway.Grpc.Caching.Configuration;

namespace Gateway.Grpc.Server.Configuration;

/// <summary>Checks the <c>cache:</c> section at start-up; every message names the key and the fix.</summary>
internal static class CacheOptionsValidator
{
    /// <summary>The largest semantic index allowed (~1.5 GB of vectors at 384 dimensions).</summary>
    public const int MaxSemanticEntries = 1_000_000;

    public static IEnumerable<string> Validate(CacheOptions cache, IReadOnlyCollection<string> modelNames)
    {
        if (cache.Backend is not ("memory" or "redis"))
        {
            yield return $"cache:backend: '{cache.Backend}' is not memory or redis.";
        }

        if (cache.Partition is not ("team" or "key" or "global"))
        {
            yield return $"cache:partition: '{cache.Partition}' is not team, key or global.";
        }

        if (cache.MaxTtlSeconds < 1)
        {
            yield return $"cache:maxTtlSeconds: must be at least 1, got {cache.MaxTtlSeconds}.";
        }

        foreach (var error in Ttl("cache:ttlSeconds", cache.TtlSeconds, cache.MaxTtlSeconds))
        {
            yield return error;
        }

        if (cache.MaxBytes < 1024 * 1024)
        {
            yield return $"cache:maxBytes: must be at least 1048576 (1 MiB), got {cache.MaxBytes}.";
        }

        if (cache.MaxEntryBytes < 1024 || cache.MaxEntryBytes > cache.MaxBytes)
        {
            yield return $"cache:maxEntryBytes: must be between 1024 and cache:maxBytes ({cache.MaxBytes}), got {cache.MaxEntryBytes}.";
        }

        foreach (var error in Threshold("cache:semantic:threshold", cache.Semantic.Threshold))
        {
            yield return error;
        }

        if (cache.Semantic.MaxEntries < 1 || cache.Semantic.MaxEntries > MaxSemanticEntries)
        {
            yield return $"cache:semantic:maxEntries: must be between 1 and {MaxSemanticEntries}, got {cache.Semantic.MaxEntries}.";
        }

        var embedder = cache.Semantic.Embedder;
        if (embedder.StartsWith("model:", StringComparison.Ordinal))
        {
            if (!modelNames.Contains(embedder[6..]))
            {
                yield return $"cache:semantic:embedder: '{embedder}' names no configured model; use model:NAME with a model whose deployments serve embeddings, or minilm.";
            }
        }
        else if (embedder != "minilm")
        {
            yield return $"cache:semantic:embedder: '{embedder}' is not known; use minilm (the local all-MiniLM-L6-v2) or model:NAME (an embeddings model group).";
        }

        if (cache.Redis.Password is { } password && !SecretReference.IsReference(password))
        {
            yield return "cache:redis:password: must be a secret reference (env:NAME or file:/path), never the password itself.";
        }

        foreach (var (name, model) in cache.Models)
        {
            if (!modelNames.Contains(name))
            {
                yield return $"cache:models:{name}: '{name}' is not a configured model.";
            }

            if (model.TtlSeconds is { } ttl)
            {
                foreach (var error in Ttl($"cache:models:{name}:ttlSeconds", ttl, cache.MaxTtlSeconds))
                {
                    yield return error;
                }
            }

            foreach (var error in Threshold($"cache:models:{name}:semanticThreshold", model.SemanticThreshold))
            {
                yield return error;
            }
        }

        foreach (var (scope, tenants) in new[] { ("teams", cache.Teams), ("keys", cache.Keys) })
        {
            foreach (var (id, tenant) in tenants)
            {
                foreach (var error in Threshold($"cache:{scope}:{id}:semanticThreshold", tenant.SemanticThreshold))
                {
                    yield return error;
                }
            }
        }
    }

    private static IEnumerable<string> Ttl(string key, int ttl, int max)
    {
        if (ttl < 1 || ttl > max)
        {
            yield return $"{key}: must be between 1 and cache:maxTtlSeconds ({max}) seconds, got {ttl}.";
        }
    }

    private static IEnumerable<string> Threshold(string key, double? threshold)
    {
        if (threshold is { } t && (double.IsNaN(t) || t <= 0 || t > 1))
        {
            yield return $"{key}: must be a cosine similarity above 0 and at most 1 (0.95 is the default), got {t}.";
        }
    }
}
