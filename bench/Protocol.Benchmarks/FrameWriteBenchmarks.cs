using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using Gateway.Grpc.Protocol.Compression;
using Gateway.Grpc.Protocol.Internal;
using Gateway.V1;

namespace Gateway.Grpc.Protocol.Benchmarks;

/// <summary>Which message one write frames.</summary>
public enum WrittenMessage
{
    /// <summary>One text delta of a streamed answer: the message the server writes most often.</summary>
    TextDeltaChunk,

    /// <summary>The chat request the gateway sends to a gRPC upstream (about 2 KB).</summary>
    CompletionRequest,
}

/// <summary>
/// Framing one outgoing message into a buffer writer (the response body's <c>PipeWriter</c> in
/// the server; an <see cref="ArrayBufferWriter{T}"/> reused across operations here). The baseline
/// serializes to a new array, builds the frame in another, then copies it into the writer.
/// </summary>
[MemoryDiagnoser]
public class FrameWriteBenchmarks
{
    private static readonly Marshaller<CompletionChunk> ChunkMarshaller = Marshallers.Protobuf(CompletionChunk.Parser);
    private static readonly Marshaller<CompletionRequest> RequestMarshaller = Marshallers.Protobuf(CompletionRequest.Parser);

    private readonly ArrayBufferWriter<byte> _writer = new(16 * 1024);
    private readonly GzipCompressionProvider _gzip = new();
    private CompletionChunk _chunk = null!;
    private CompletionRequest _request = null!;

    [Params(WrittenMessage.TextDeltaChunk, WrittenMessage.CompletionRequest)]
    public WrittenMessage Message { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _chunk = new CompletionChunk { Delta = new TextDelta { Text = " gateway" } };
        _request = GrpcPayloads.Request();
        IMessage message = Message == WrittenMessage.TextDeltaChunk ? _chunk : _request;
        var expectedFrame = GrpcPayloads.Frame(message, gzip: false);

        Verify.Equal(nameof(ToByteArrayThenCopy), ToByteArrayThenCopy(), expectedFrame.Length);
        Verify.Equal(nameof(ToByteArrayThenCopy) + " bytes", _writer.WrittenSpan.SequenceEqual(expectedFrame), true);
        Verify.Equal(nameof(WriteMessage), WriteMessage(), expectedFrame.Length);
        Verify.Equal(nameof(WriteMessage) + " bytes", _writer.WrittenSpan.SequenceEqual(expectedFrame), true);

        WriteMessageGzip();
        var written = _writer.WrittenSpan;
        Verify.Equal(nameof(WriteMessageGzip) + " flag", written[0], (byte)1);
        Verify.Equal(nameof(WriteMessageGzip) + " length", (int)BinaryPrimitives.ReadUInt32BigEndian(written[1..]), written.Length - GrpcPayloads.HeaderSize);
        using var inflater = new GZipStream(new MemoryStream(written[GrpcPayloads.HeaderSize..].ToArray()), CompressionMode.Decompress);
        using var inflated = new MemoryStream();
        inflater.CopyTo(inflated);
        Verify.Equal(nameof(WriteMessageGzip) + " payload", inflated.ToArray().AsSpan().SequenceEqual(expectedFrame.AsSpan(GrpcPayloads.HeaderSize)), true);
    }

    /// <summary>Reference: <c>ToByteArray()</c>, a new frame array with the header, copied into the writer.</summary>
    [Benchmark(Baseline = true)]
    public int ToByteArrayThenCopy()
    {
        _writer.ResetWrittenCount();
        var payload = Message == WrittenMessage.TextDeltaChunk ? _chunk.ToByteArray() : _request.ToByteArray();
        var frame = new byte[GrpcPayloads.HeaderSize + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, GrpcPayloads.HeaderSize);
        _writer.Write(frame);
        return _writer.WrittenCount;
    }

    /// <summary>The real path: header and payload serialized straight into the writer's memory.</summary>
    [Benchmark]
    public int WriteMessage() => Write(compression: null);

    /// <summary>The real path with grpc-encoding gzip (Fastest), the cost a client pays when it asks for compression.</summary>
    [Benchmark]
    public int WriteMessageGzip() => Write(_gzip);

    private int Write(ICompressionProvider? compression)
    {
        _writer.ResetWrittenCount();
        if (Message == WrittenMessage.TextDeltaChunk)
        {
            MessageFraming.WriteMessage(_writer, _chunk, ChunkMarshaller, compression, maxSendMessageSize: null);
        }
        else
        {
            MessageFraming.WriteMessage(_writer, _request, RequestMarshaller, compression, maxSendMessageSize: null);
        }

        return _writer.WrittenCount;
    }
}
