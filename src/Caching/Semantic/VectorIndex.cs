using System.Numerics.Tensors;

namespace Gateway.Grpc.Caching.Semantic;

/// <summary>One indexed prompt: its vector and the exact key its answer is stored under.</summary>
internal sealed record VectorEntry(string Bucket, string AnswerKey, float[] Vector, DateTimeOffset ExpiresAt);

/// <summary>
/// Brute-force nearest neighbour over unit vectors, SIMD dot products
/// (<see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>). Vectors are grouped
/// by bucket (tenant partition, model group and the rest of the conversation), so a search only
/// scans its own bucket. At most <c>maxEntries</c> vectors in all: the oldest insert goes first.
/// At the default 20,000 entries x 384 dimensions that is ~31 MB of floats, and a search of a
/// bucket holding all of them is 7.7 M multiply-adds.
/// </summary>
internal sealed class VectorIndex(int maxEntries, TimeProvider timeProvider)
{
    private readonly Dictionary<string, List<LinkedListNode<VectorEntry>>> _buckets = new(StringComparer.Ordinal);
    private readonly LinkedList<VectorEntry> _order = new();
    private readonly Lock _lock = new();

    public int MaxEntries => maxEntries;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _order.Count;
            }
        }
    }

    /// <summary>Adds an entry; one already indexed for the same answer key in the bucket is replaced.</summary>
    public void Add(VectorEntry entry)
    {
        lock (_lock)
        {
            if (!_buckets.TryGetValue(entry.Bucket, out var bucket))
            {
                bucket = [];
                _buckets[entry.Bucket] = bucket;
            }

            for (var i = 0; i < bucket.Count; i++)
            {
                if (bucket[i].Value.AnswerKey == entry.AnswerKey)
                {
                    _order.Remove(bucket[i]);
                    bucket.RemoveAt(i);
                    break;
                }
            }

            bucket.Add(_order.AddLast(entry));
            while (_order.Count > maxEntries && _order.First is { } oldest)
            {
                RemoveNode(oldest);
            }
        }
    }

    /// <summary>The most similar live entry of the bucket and its cosine similarity, or null when the bucket is empty.</summary>
    public (VectorEntry Entry, float Similarity)? Nearest(string bucketKey, ReadOnlySpan<float> query)
    {
        var now = timeProvider.GetUtcNow();
        lock (_lock)
        {
            if (!_buckets.TryGetValue(bucketKey, out var bucket))
            {
                return null;
            }

            VectorEntry? best = null;
            var bestScore = float.NegativeInfinity;
            for (var i = bucket.Count - 1; i >= 0; i--)
            {
                var entry = bucket[i].Value;
                if (entry.ExpiresAt <= now)
                {
                    _order.Remove(bucket[i]);
                    bucket.RemoveAt(i);
                    continue;
                }

                if (entry.Vector.Length != query.Length)
                {
                    // Made by another embedder (the configuration changed): not comparable.
                    continue;
                }

                var score = TensorPrimitives.Dot(query, entry.Vector);
                if (score > bestScore)
                {
                    bestScore = score;
                    best = entry;
                }
            }

            if (bucket.Count == 0)
            {
                _buckets.Remove(bucketKey);
            }

            return best is null ? null : (best, bestScore);
        }
    }

    /// <summary>Drops the entry (its answer is gone from the store).</summary>
    public void Remove(string bucketKey, string answerKey)
    {
        lock (_lock)
        {
            if (_buckets.TryGetValue(bucketKey, out var bucket))
            {
                var node = bucket.Find(n => n.Value.AnswerKey == answerKey);
                if (node is not null)
                {
                    RemoveNode(node);
                }
            }
        }
    }

    private void RemoveNode(LinkedListNode<VectorEntry> node)
    {
        _order.Remove(node);
        var bucketKey = node.Value.Bucket;
        if (_buckets.TryGetValue(bucketKey, out var bucket))
        {
            bucket.Remove(node);
            if (bucket.Count == 0)
            {
                _buckets.Remove(bucketKey);
            }
        }
    }
}
