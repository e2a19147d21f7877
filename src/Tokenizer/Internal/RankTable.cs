using System.Buffers.Binary;
using System.Numerics;

namespace Gateway.Grpc.Tokenizer.Internal;

/// <summary>
/// The mergeable ranks of a BPE vocabulary: byte sequence to rank (which is also the token id),
/// and rank back to bytes. One blob holds every token's bytes; an open-addressing table over it
/// answers <see cref="TryGetRank"/> for a <see cref="ReadOnlySpan{T}"/> key without allocating,
/// which is what the merge loop does for every candidate pair.
/// </summary>
internal sealed class RankTable
{
    private const int Empty = 0;

    // Token bytes, concatenated in rank order; token r is _blob[_offsets[r] .. _offsets[r] + _lengths[r]].
    private readonly byte[] _blob;
    private readonly int[] _offsets;
    private readonly int[] _lengths;

    // Slot = (hash << 32) | (rank + 1); 0 is an empty slot. Keeping hash and rank in one long
    // makes a probe a single memory access; the byte comparison only runs on a hash hit.
    private readonly long[] _slots;
    private readonly int _mask;

    private RankTable(byte[] blob, int[] offsets, int[] lengths, long[] slots, int count)
    {
        _blob = blob;
        _offsets = offsets;
        _lengths = lengths;
        _slots = slots;
        _mask = slots.Length - 1;
        Count = count;
    }

    /// <summary>Number of tokens with bytes (ranks may have gaps; see <see cref="RankLimit"/>).</summary>
    public int Count { get; }

    /// <summary>One past the highest rank.</summary>
    public int RankLimit => _offsets.Length;

    /// <summary>Length in bytes of the longest token.</summary>
    public int MaxTokenLength { get; private init; }

    public bool TryGetRank(ReadOnlySpan<byte> key, out int rank)
    {
        var hash = Hash(key);
        var slots = _slots;
        var index = (int)hash & _mask;
        while (true)
        {
            var slot = slots[index];
            if (slot == Empty)
            {
                rank = -1;
                return false;
            }

            if ((uint)((ulong)slot >> 32) == hash)
            {
                var candidate = (int)(uint)slot - 1;
                if (_lengths[candidate] == key.Length && _blob.AsSpan(_offsets[candidate], key.Length).SequenceEqual(key))
                {
                    rank = candidate;
                    return true;
                }
            }

            index = (index + 1) & _mask;
        }
    }

    /// <summary>The bytes of token <paramref name="rank"/>; empty when the rank has no token.</summary>
    public ReadOnlySpan<byte> GetBytes(int rank)
        => (uint)rank < (uint)_offsets.Length ? _blob.AsSpan(_offsets[rank], _lengths[rank]) : default;

    public bool Contains(int rank) => (uint)rank < (uint)_lengths.Length && _lengths[rank] > 0;

    /// <summary>
    /// Builds the table. <paramref name="tokens"/> lists (rank, offset, length) into <paramref name="blob"/>.
    /// Fails on a repeated rank, a repeated byte sequence or an empty token: the merge loop relies on
    /// ranks being unique per byte sequence.
    /// </summary>
    public static RankTable Build(byte[] blob, ReadOnlySpan<(int Rank, int Offset, int Length)> tokens)
    {
        var limit = 0;
        foreach (var (rank, _, _) in tokens)
        {
            if (rank < 0)
            {
                throw new InvalidDataException($"Token rank {rank} is negative.");
            }

            limit = Math.Max(limit, rank + 1);
        }

        var offsets = new int[limit];
        var lengths = new int[limit];
        var capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, tokens.Length * 2));
        var slots = new long[capacity];
        var mask = capacity - 1;
        var maxLength = 0;
        foreach (var (rank, offset, length) in tokens)
        {
            if (length == 0)
            {
                throw new InvalidDataException($"Token rank {rank} has no bytes.");
            }

            if (lengths[rank] != 0)
            {
                throw new InvalidDataException($"Token rank {rank} appears twice.");
            }

            offsets[rank] = offset;
            lengths[rank] = length;
            maxLength = Math.Max(maxLength, length);
            var key = blob.AsSpan(offset, length);
            var hash = Hash(key);
            var index = (int)hash & mask;
            while (slots[index] != Empty)
            {
                var other = (int)(uint)slots[index] - 1;
                if ((uint)((ulong)slots[index] >> 32) == hash && blob.AsSpan(offsets[other], lengths[other]).SequenceEqual(key))
                {
                    throw new InvalidDataException($"Token ranks {other} and {rank} have the same bytes.");
                }

                index = (index + 1) & mask;
            }

            slots[index] = (long)(((ulong)hash << 32) | (uint)(rank + 1));
        }

        return new RankTable(blob, offsets, lengths, slots, tokens.Length) { MaxTokenLength = maxLength };
    }

    /// <summary>
    /// A fast non-cryptographic hash over 8-byte words (splitmix-style finalizer). The key set is a
    /// fixed vocabulary that callers cannot insert into, so a predictable hash costs nothing.
    /// </summary>
    internal static uint Hash(ReadOnlySpan<byte> key)
    {
        var h = (ulong)key.Length * 0x9E3779B97F4A7C15UL;
        while (key.Length >= 8)
        {
            h = (h ^ BinaryPrimitives.ReadUInt64LittleEndian(key)) * 0xBF58476D1CE4E5B9UL;
            h ^= h >> 31;
            key = key[8..];
        }

        ulong tail = 0;
        for (var i = 0; i < key.Length; i++)
        {
            tail |= (ulong)key[i] << (8 * i);
        }

        h = (h ^ tail) * 0x94D049BB133111EBUL;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 32;
        return (uint)h;
    }
}
