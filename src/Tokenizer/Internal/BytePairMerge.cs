using System.Buffers;

namespace Gateway.Grpc.Tokenizer.Internal;

/// <summary>Receives token ids as the encoder produces them (a list, or just a count).</summary>
internal interface ITokenSink
{
    void Add(int token);
}

internal struct CountingSink : ITokenSink
{
    public int Count;

    public void Add(int token) => Count++;
}

internal readonly struct ListSink(List<int> list) : ITokenSink
{
    public void Add(int token) => list.Add(token);
}

/// <summary>
/// Rank-based byte-pair merging of one pre-tokenized piece, with tiktoken's semantics: repeatedly
/// merge the adjacent pair whose concatenation has the lowest rank, the leftmost such pair on a tie,
/// until no adjacent pair is in the vocabulary; then each remaining part is one token.
/// </summary>
internal static class BytePairMerge
{
    /// <summary>
    /// Pieces up to this many bytes use tiktoken's own scan (quadratic, but the fastest for the
    /// short pieces real text produces); longer ones, such as a long run of one punctuation
    /// character, use a priority queue so the cost stays O(n log n) and a hostile input cannot
    /// stall the gateway. Both give the same ids.
    /// </summary>
    internal const int HeapThreshold = 128;

    private const int NoRank = int.MaxValue;

    public static void Encode<TSink>(RankTable ranks, ReadOnlySpan<byte> piece, ref TSink sink)
        where TSink : struct, ITokenSink
    {
        if (piece.Length <= HeapThreshold)
        {
            EncodeByScan(ranks, piece, ref sink);
        }
        else
        {
            EncodeByHeap(ranks, piece, ref sink);
        }
    }

    /// <summary>tiktoken's <c>_byte_pair_merge</c>: parts are boundaries; ranks[i] is the rank of the pair starting at part i.</summary>
    internal static void EncodeByScan<TSink>(RankTable ranks, ReadOnlySpan<byte> piece, ref TSink sink)
        where TSink : struct, ITokenSink
    {
        var n = piece.Length;
        if (n == 0)
        {
            return;
        }

        if (n > HeapThreshold)
        {
            throw new ArgumentOutOfRangeException(nameof(piece), n, $"The scan is for pieces up to {HeapThreshold} bytes.");
        }

        Span<int> starts = stackalloc int[n + 1];
        Span<int> pairRanks = stackalloc int[n + 1];
        for (var i = 0; i < n - 1; i++)
        {
            starts[i] = i;
            pairRanks[i] = ranks.TryGetRank(piece.Slice(i, 2), out var rank) ? rank : NoRank;
        }

        starts[n - 1] = n - 1;
        pairRanks[n - 1] = NoRank;
        starts[n] = n;
        pairRanks[n] = NoRank;
        var count = n + 1;

        while (true)
        {
            var minRank = NoRank;
            var minIndex = -1;
            for (var i = 0; i < count - 1; i++)
            {
                if (pairRanks[i] < minRank)
                {
                    minRank = pairRanks[i];
                    minIndex = i;
                }
            }

            if (minIndex < 0)
            {
                break;
            }

            // Ranks of the pairs that now span the merged part, computed before the removal so
            // that starts[i + 3] is still the end of the part after the merged one.
            pairRanks[minIndex] = RankOf(ranks, piece, starts, count, minIndex);
            if (minIndex > 0)
            {
                pairRanks[minIndex - 1] = RankOf(ranks, piece, starts, count, minIndex - 1);
            }

            starts[(minIndex + 2)..count].CopyTo(starts[(minIndex + 1)..]);
            pairRanks[(minIndex + 2)..count].CopyTo(pairRanks[(minIndex + 1)..]);
            count--;
        }

        for (var i = 0; i < count - 1; i++)
        {
            sink.Add(TokenOf(ranks, piece[starts[i]..starts[i + 1]]));
        }
    }

    private static int RankOf(RankTable ranks, ReadOnlySpan<byte> piece, ReadOnlySpan<int> starts, int count, int i)
        => i + 3 < count && ranks.TryGetRank(piece[starts[i]..starts[i + 3]], out var rank) ? rank : NoRank;

    /// <summary>
    /// The same merge order with a priority queue keyed by (rank, start): the queue's minimum is
    /// exactly the pair the scan would pick (lowest rank, leftmost on a tie). Entries go stale when
    /// a neighbour merges; a stale entry is recognised because a part's pair only ever grows, and
    /// a longer byte sequence never has the rank of a shorter one.
    /// </summary>
    internal static void EncodeByHeap<TSink>(RankTable ranks, ReadOnlySpan<byte> piece, ref TSink sink)
        where TSink : struct, ITokenSink
    {
        var n = piece.Length;
        if (n == 0)
        {
            return;
        }

        var next = ArrayPool<int>.Shared.Rent(n);
        var prev = ArrayPool<int>.Shared.Rent(n);
        var pairRank = ArrayPool<int>.Shared.Rent(n);
        try
        {
            var queue = new PriorityQueue<int, long>(n);
            for (var i = 0; i < n; i++)
            {
                next[i] = i + 1;
                prev[i] = i - 1;
            }

            for (var i = 0; i < n; i++)
            {
                pairRank[i] = PairRank(ranks, piece, next, i, n);
                if (pairRank[i] != NoRank)
                {
                    queue.Enqueue(i, Priority(pairRank[i], i));
                }
            }

            while (queue.TryDequeue(out var part, out var priority))
            {
                var rank = (int)(priority >> 32);
                if (pairRank[part] != rank)
                {
                    continue; // merged away, or its pair changed since this entry was queued
                }

                var victim = next[part];
                next[part] = next[victim];
                if (next[victim] < n)
                {
                    prev[next[victim]] = part;
                }

                pairRank[victim] = -1;
                pairRank[part] = PairRank(ranks, piece, next, part, n);
                if (pairRank[part] != NoRank)
                {
                    queue.Enqueue(part, Priority(pairRank[part], part));
                }

                var before = prev[part];
                if (before >= 0)
                {
                    pairRank[before] = PairRank(ranks, piece, next, before, n);
                    if (pairRank[before] != NoRank)
                    {
                        queue.Enqueue(before, Priority(pairRank[before], before));
                    }
                }
            }

            for (var i = 0; i < n; i = next[i])
            {
                sink.Add(TokenOf(ranks, piece[i..next[i]]));
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(next);
            ArrayPool<int>.Shared.Return(prev);
            ArrayPool<int>.Shared.Return(pairRank);
        }
    }

    private static long Priority(int rank, int start) => ((long)rank << 32) | (uint)start;

    private static int PairRank(RankTable ranks, ReadOnlySpan<byte> piece, int[] next, int part, int n)
    {
        var second = next[part];
        if (second >= n)
        {
            return NoRank;
        }

        var end = next[second];
        return ranks.TryGetRank(piece[part..end], out var rank) ? rank : NoRank;
    }

    private static int TokenOf(RankTable ranks, ReadOnlySpan<byte> part)
        => ranks.TryGetRank(part, out var rank)
            ? rank
            : throw new InvalidOperationException($"The vocabulary has no token for a {part.Length}-byte part; every single byte must be a token.");
}
