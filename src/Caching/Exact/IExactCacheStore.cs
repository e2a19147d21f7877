namespace Gateway.Grpc.Caching.Exact;

/// <summary>Where cached answers live, by exact key: this process's memory or a shared Redis.</summary>
internal interface IExactCacheStore
{
    /// <summary>The stored bytes, or null when absent or expired. Never throws for a store that is down (a miss).</summary>
    ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken);

    /// <summary>Stores (or replaces) the bytes for <paramref name="ttl"/>. Best effort: a store that is down keeps nothing.</summary>
    ValueTask SetAsync(string key, byte[] value, TimeSpan ttl, CancellationToken cancellationToken);
}
