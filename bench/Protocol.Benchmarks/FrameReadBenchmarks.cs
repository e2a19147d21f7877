using System.Buffers;
using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Gateway.Grpc.Protocol.Internal;
using Gateway.V1;

namespace Gateway.Grpc.Protocol.Benchmarks;

/// <summary>
/// A client reading a streamed answer: <see cref="Deltas"/> + 3 length-prefixed
/// <see cref="CompletionChunk"/> messages already received, sliced off one by one as
/// <c>GrpcCall</c> and <c>ServerCallHandler</c> do. The baseline frames the same bytes the plain
/// way: copy each payload into a new array, then <c>Parser.ParseFrom(byte[])</c>.
/// </summary>
[MemoryDiagnoser]
public class FrameReadBenchmarks
{
    public const int Deltas = 200;
    private const int MaxReceiveMessageSize = 4 * 1024 * 1024;

    private static readonly Marshaller<CompletionChunk> ChunkMarshaller = Marshallers.Protobuf(CompletionChunk.Parser);

    private readonly MessageDecoder _decoder = new(MaxReceiveMessageSize, encoding: null, encodingName: null);
    private ReadOnlySequence<byte> _received;

    [Params(BufferLayout.Contiguous, BufferLayout.Segments1K, BufferLayout.Segments64B)]
    public BufferLayout Layout { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var chunks = GrpcPayloads.ChunkStream(Deltas);
        var bytes = GrpcPayloads.Frames(chunks);
        _received = Segments.Create(bytes, Layout);
        if (Layout != BufferLayout.Contiguous && _received.IsSingleSegment)
        {
            throw new InvalidOperationException("The segmented layout produced a single segment.");
        }

        var expectedSum = 0;
        foreach (var chunk in chunks)
        {
            expectedSum += GrpcPayloads.Checksum(chunk);
        }

        var decodedByReference = new List<CompletionChunk>();
        Verify.Equal(nameof(CopyThenParseFrom), ReadWithCopy(decodedByReference), expectedSum);
        Verify.Sequence(nameof(CopyThenParseFrom), decodedByReference, chunks);

        var decoded = new List<CompletionChunk>();
        Verify.Equal(nameof(TryReadMessageAndDecode), ReadAndDecode(decoded), expectedSum);
        Verify.Sequence(nameof(TryReadMessageAndDecode), decoded, chunks);

        Verify.Equal(nameof(TryReadMessage), TryReadMessage(), bytes.Length - (chunks.Count * GrpcPayloads.HeaderSize));
    }

    /// <summary>Reference: payload copied to a new array per message, then parsed from the array.</summary>
    [Benchmark(Baseline = true)]
    public int CopyThenParseFrom() => ReadWithCopy(capture: null);

    /// <summary>Framing only: slice every payload off the sequence (sum of payload lengths).</summary>
    [Benchmark]
    public int TryReadMessage()
    {
        var buffer = _received;
        var total = 0;
        while (MessageFraming.TryReadMessage(ref buffer, MaxReceiveMessageSize, out _, out var payload))
        {
            total += (int)payload.Length;
        }

        return total;
    }

    /// <summary>The real read path: slice, then decode the payload sequence in place.</summary>
    [Benchmark]
    public int TryReadMessageAndDecode() => ReadAndDecode(capture: null);

    private int ReadAndDecode(List<CompletionChunk>? capture)
    {
        var buffer = _received;
        var sum = 0;
        while (MessageFraming.TryReadMessage(ref buffer, MaxReceiveMessageSize, out var compressed, out var payload))
        {
            var chunk = _decoder.Decode(payload, compressed, ChunkMarshaller);
            sum += GrpcPayloads.Checksum(chunk);
            capture?.Add(chunk);
        }

        return buffer.IsEmpty ? sum : -1;
    }

    private int ReadWithCopy(List<CompletionChunk>? capture)
    {
        var buffer = _received;
        var sum = 0;
        Span<byte> header = stackalloc byte[GrpcPayloads.HeaderSize];
        while (buffer.Length >= GrpcPayloads.HeaderSize)
        {
            buffer.Slice(0, GrpcPayloads.HeaderSize).CopyTo(header);
            if (header[0] != 0)
            {
                throw new InvalidOperationException("Unexpected compressed flag.");
            }

            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
            if (buffer.Length < GrpcPayloads.HeaderSize + length)
            {
                break;
            }

            var payload = buffer.Slice(GrpcPayloads.HeaderSize, length).ToArray();
            var chunk = CompletionChunk.Parser.ParseFrom(payload);
            sum += GrpcPayloads.Checksum(chunk);
            capture?.Add(chunk);
            buffer = buffer.Slice(GrpcPayloads.HeaderSize + length);
        }

        return buffer.IsEmpty ? sum : -1;
    }
}
