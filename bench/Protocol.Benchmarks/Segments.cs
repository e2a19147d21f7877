using System.Buffers;

namespace Gateway.Grpc.Protocol.Benchmarks;

/// <summary>How the received bytes sit in memory when the parser sees them.</summary>
public enum BufferLayout
{
    /// <summary>One contiguous buffer (everything arrived in one read).</summary>
    Contiguous,

    /// <summary>1024-byte segments: a boundary every 70 or so small messages.</summary>
    Segments1K,

    /// <summary>64-byte segments: about one frame in five straddles a boundary (near worst case).</summary>
    Segments64B,
}

/// <summary>Builds a <see cref="ReadOnlySequence{T}"/> the way a pipe hands received bytes to a reader.</summary>
internal static class Segments
{
    public static ReadOnlySequence<byte> Create(byte[] bytes, BufferLayout layout) => layout switch
    {
        BufferLayout.Contiguous => new ReadOnlySequence<byte>(bytes),
        BufferLayout.Segments1K => Split(bytes, 1024),
        BufferLayout.Segments64B => Split(bytes, 64),
        _ => throw new ArgumentOutOfRangeException(nameof(layout)),
    };

    /// <summary>Copies <paramref name="bytes"/> into separate arrays of at most <paramref name="segmentSize"/> bytes, chained.</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, int segmentSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentSize, 1);
        if (bytes.Length <= segmentSize)
        {
            return new ReadOnlySequence<byte>(bytes.AsSpan().ToArray());
        }

        var first = new Segment(bytes.AsSpan(0, segmentSize).ToArray(), 0);
        var last = first;
        for (var offset = segmentSize; offset < bytes.Length; offset += segmentSize)
        {
            var length = Math.Min(segmentSize, bytes.Length - offset);
            last = last.Append(bytes.AsSpan(offset, length).ToArray());
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
