namespace Gateway.Grpc.Caching.Exact;

/// <summary>
/// One process's cache: least recently used entries go first once the stored bytes (value, key
/// and a fixed per-entry overhead) would pass <c>maxBytes</c>; expired entries are dropped when
/// read or when their turn comes in the LRU order. One lock: every operation is a dictionary
/// lookup and a linked-list splice.
/// </summary>
internal sealed class MemoryExactCache(long maxBytes, TimeProvider timeProvider) : IExactCacheStore
{
    /// <summary>Dictionary slot, list node, entry object and the key's string header, roughly.</summary>
    internal const int EntryOverhead = 160;

    private readonly Dictionary<string, LinkedListNode<Entry>> _map = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _lru = new();
    private readonly Lock _lock = new();
    private long _bytes;

    public long Bytes
    {
        get
        {
            lock (_lock)
            {
                return _bytes;
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _map.Count;
            }
        }
    }

    public long MaxBytes => maxBytes;

    public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        lock (_lock)
        {
            if (!_map.TryGetValue(key, out var node))
            {
                return ValueTask.FromResult<byte[]?>(null);
            }

            if (node.Value.ExpiresAt <= now)
            {
                Remove(node);
                return ValueTask.FromResult<byte[]?>(null);
            }

            _lru.Remove(node);
            _lru.AddFirst(node);
            return ValueTask.FromResult<byte[]?>(node.Value.Value);
        }
    }

    public ValueTask SetAsync(string key, byte[] value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var size = SizeOf(key, value);
        if (size > maxBytes)
        {
            return ValueTask.CompletedTask;
        }

        var entry = new Entry(key, value, timeProvider.GetUtcNow() + ttl, size);
        lock (_lock)
        {
            if (_map.TryGetValue(key, out var existing))
            {
                Remove(existing);
            }

            while (_bytes + size > maxBytes && _lru.Last is { } oldest)
            {
                Remove(oldest);
            }

            _map[key] = _lru.AddFirst(entry);
            _bytes += size;
        }

        return ValueTask.CompletedTask;
    }

    internal static long SizeOf(string key, byte[] value) => value.Length + (key.Length * 2L) + EntryOverhead;

    private void Remove(LinkedListNode<Entry> node)
    {
        _lru.Remove(node);
        _map.Remove(node.Value.Key);
        _bytes -= node.Value.Size;
    }

    private sealed record Entry(string Key, byte[] Value, DateTimeOffset ExpiresAt, long Size);
}
