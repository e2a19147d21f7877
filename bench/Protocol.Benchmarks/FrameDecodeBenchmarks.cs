using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Gateway.Grpc.Protocol.Compression;
using Gateway.Grpc.Protocol.Internal;
using Gateway.V1;

namespace Gateway.Grpc.Protocol.Benchmarks;

/// <summary>
/// The server receiving one request: a single framed <see cref="CompletionRequest"/> (about 2 KB
/// of protobuf), identity or gzip, decoded into the message. The baseline copies the payload
/// into a new array (and, for gzip, inflates it through a <see cref="GZipStream"/> into another)
/// and parses from the array.
/// </summary>
[MemoryDiagnoser]
public class FrameDecodeBenchmarks
{
    private const int MaxReceiveMessageSize = 4 * 1024 * 1024;

    private static readonly Marshaller<CompletionRequest> RequestMarshaller = Marshallers.Protobuf(CompletionRequest.Parser);

    private MessageDecoder _decoder = null!;
    private ReadOnlySequence<byte> _frame;
    private CompletionRequest _expected = null!;

    [Params("identity", "gzip")]
    public string Encoding { get; set; } = "identity";

    [GlobalSetup]
    public void Setup()
    {
        _expected = GrpcPayloads.Request();
        var gzip = Encoding == "gzip";
        _frame = new ReadOnlySequence<byte>(GrpcPayloads.Frame(_expected, gzip));
        _decoder = gzip
            ? new MessageDecoder(MaxReceiveMessageSize, new GzipCompressionProvider(), "gzip")
            : new MessageDecoder(MaxReceiveMessageSize, encoding: null, encodingName: null);

        var expectedSum = Checksum(_expected);
        Verify.Equal(nameof(CopyThenParseFrom), Checksum(CopyThenParseFromCore()), expectedSum);
        Verify.Equal(nameof(CopyThenParseFrom) + " message", CopyThenParseFromCore(), _expected);
        Verify.Equal(nameof(TryReadMessageAndDecode), Checksum(Decode()), expectedSum);
        Verify.Equal(nameof(TryReadMessageAndDecode) + " message", Decode(), _expected);
        Verify.Equal(nameof(ReadSingleMessageAsync) + " message", ReadSingleAsync().AsTask().GetAwaiter().GetResult(), _expected);
        Verify.Equal(nameof(TryReadMessageAndDecode) + " compressed flag", _decoder.LastMessageCompressed, gzip);
    }

    /// <summary>Reference: copy (and inflate) into new arrays, then <c>Parser.ParseFrom(byte[])</c>.</summary>
    [Benchmark(Baseline = true)]
    public int CopyThenParseFrom() => Checksum(CopyThenParseFromCore());

    /// <summary>The real path on a buffered request body: slice the frame, decode the payload sequence.</summary>
    [Benchmark]
    public int TryReadMessageAndDecode() => Checksum(Decode());

    /// <summary>The unary/server-streaming request read: a <see cref="PipeReader"/> over the body, exactly one message.</summary>
    [Benchmark]
    public async ValueTask<int> ReadSingleMessageAsync() => Checksum(await ReadSingleAsync());

    private CompletionRequest CopyThenParseFromCore()
    {
        Span<byte> header = stackalloc byte[GrpcPayloads.HeaderSize];
        _frame.Slice(0, GrpcPayloads.HeaderSize).CopyTo(header);
        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        var payload = _frame.Slice(GrpcPayloads.HeaderSize, length).ToArray();
        if (header[0] == 1)
        {
            using var compressed = new MemoryStream(payload, writable: false);
            using var inflater = new GZipStream(compressed, CompressionMode.Decompress);
            using var inflated = new MemoryStream();
            inflater.CopyTo(inflated);
            payload = inflated.ToArray();
        }

        return CompletionRequest.Parser.ParseFrom(payload);
    }

    private CompletionRequest Decode()
    {
        var buffer = _frame;
        if (!MessageFraming.TryReadMessage(ref buffer, MaxReceiveMessageSize, out var compressed, out var payload) || !buffer.IsEmpty)
        {
            throw new InvalidOperationException("Expected exactly one whole message.");
        }

        return _decoder.Decode(payload, compressed, RequestMarshaller);
    }

    private async ValueTask<CompletionRequest> ReadSingleAsync()
    {
        var reader = PipeReader.Create(_frame);
        var request = await MessageFraming.ReadSingleMessageAsync(reader, RequestMarshaller, _decoder, CancellationToken.None);
        await reader.CompleteAsync();
        return request;
    }

    private static int Checksum(CompletionRequest request) => request.Messages.Count + request.Tools.Count + request.Model.Length;
}
