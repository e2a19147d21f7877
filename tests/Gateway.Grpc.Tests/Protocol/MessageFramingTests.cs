using System.Buffers;
using System.IO.Compression;
using System.IO.Pipelines;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Compression;
using Gateway.Grpc.Protocol.Internal;
using Google.Protobuf;
using Grpc.Testing;

namespace Gateway.Grpc.Tests.Protocol;

public sealed class MessageFramingTests
{
    private static readonly Marshaller<Payload> PayloadMarshaller = Marshallers.Protobuf(Payload.Parser);

    private static Payload Sample(int size = 100) => new() { Body = ByteString.CopyFrom(Enumerable.Range(0, size).Select(i => (byte)i).ToArray()) };

    private static byte[] Frame(Payload message, ICompressionProvider? compression = null)
    {
        var writer = new ArrayBufferWriter<byte>();
        MessageFraming.WriteMessage(writer, message, PayloadMarshaller, compression, maxSendMessageSize: null);
        return writer.WrittenSpan.ToArray();
    }

    private static byte[] Header(byte flag, uint length) => [flag, (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length];

    [Fact]
    public void WriteMessage_Uncompressed_FlagZeroAndBigEndianLength()
    {
        var message = Sample(300);

        var framed = Frame(message);

        Assert.Equal(Header(0, (uint)message.CalculateSize()), framed[..5]);
        Assert.Equal(message.ToByteArray(), framed[5..]);
    }

    [Fact]
    public void WriteMessage_EmptyMessage_FiveZeroBytes()
        => Assert.Equal(new byte[5], Frame(new Payload()));

    [Fact]
    public void TryReadMessage_EmptyMessage_EmptyPayload()
    {
        var buffer = new ReadOnlySequence<byte>(new byte[5]);

        Assert.True(MessageFraming.TryReadMessage(ref buffer, 100, out var compressed, out var payload));
        Assert.False(compressed);
        Assert.True(payload.IsEmpty);
        Assert.True(buffer.IsEmpty);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void TryReadMessage_FewerThanFiveBytes_NeedsMore(int length)
    {
        var buffer = new ReadOnlySequence<byte>(new byte[length]);

        Assert.False(MessageFraming.TryReadMessage(ref buffer, null, out _, out _));
        Assert.Equal(length, buffer.Length);
    }

    [Fact]
    public void TryReadMessage_SplitAtEveryOffset_SameMessage()
    {
        var message = Sample(40);
        var framed = Frame(message);
        for (var split = 1; split < framed.Length; split++)
        {
            var buffer = SequenceBuilder.Split(framed, split);

            Assert.True(MessageFraming.TryReadMessage(ref buffer, null, out _, out var payload), $"split at {split}");
            Assert.Equal(message, Payload.Parser.ParseFrom(payload));
            Assert.True(buffer.IsEmpty);
        }
    }

    [Fact]
    public void TryReadMessage_ManySmallSegments_SameMessage()
    {
        var message = Sample(64);
        var framed = Frame(message);
        var buffer = SequenceBuilder.Split(framed, Enumerable.Range(1, framed.Length - 1).ToArray());

        Assert.True(MessageFraming.TryReadMessage(ref buffer, null, out _, out var payload));
        Assert.Equal(message, Payload.Parser.ParseFrom(payload));
    }

    [Fact]
    public void TryReadMessage_PartialPayload_NeedsMoreAndLeavesBufferAlone()
    {
        var framed = Frame(Sample(50));
        var buffer = SequenceBuilder.Split(framed[..^1], 7);

        Assert.False(MessageFraming.TryReadMessage(ref buffer, null, out _, out _));
        Assert.Equal(framed.Length - 1, buffer.Length);
    }

    [Fact]
    public void TryReadMessage_TwoMessagesInOneBuffer_ReadsBothInOrder()
    {
        var first = Sample(10);
        var second = Sample(20);
        var buffer = SequenceBuilder.Split([.. Frame(first), .. Frame(second)], 3, 18);

        Assert.True(MessageFraming.TryReadMessage(ref buffer, null, out _, out var p1));
        Assert.Equal(first, Payload.Parser.ParseFrom(p1));
        Assert.True(MessageFraming.TryReadMessage(ref buffer, null, out _, out var p2));
        Assert.Equal(second, Payload.Parser.ParseFrom(p2));
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void TryReadMessage_LengthOverLimit_RefusedFromTheHeaderAlone()
    {
        // Only the 5-byte prefix is present: the refusal must not wait for the payload.
        var buffer = new ReadOnlySequence<byte>(Header(0, 4 * 1024 * 1024 + 1));

        var ex = Assert.Throws<RpcException>(() => MessageFraming.TryReadMessage(ref buffer, 4 * 1024 * 1024, out _, out _));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Contains("4194305", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void TryReadMessage_LengthAtLimit_Accepted()
    {
        var buffer = new ReadOnlySequence<byte>([.. Header(0, 10), .. new byte[10]]);

        Assert.True(MessageFraming.TryReadMessage(ref buffer, 10, out _, out var payload));
        Assert.Equal(10, payload.Length);
    }

    [Fact]
    public void TryReadMessage_HugeLengthWithoutLimit_ResourceExhausted()
    {
        var buffer = new ReadOnlySequence<byte>(Header(0, uint.MaxValue));

        var ex = Assert.Throws<RpcException>(() => MessageFraming.TryReadMessage(ref buffer, null, out _, out _));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(0x80)]
    [InlineData(0xFF)]
    public void TryReadMessage_InvalidFlag_Internal(byte flag)
    {
        var buffer = new ReadOnlySequence<byte>([.. Header(flag, 0)]);

        var ex = Assert.Throws<RpcException>(() => MessageFraming.TryReadMessage(ref buffer, null, out _, out _));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
    }

    [Fact]
    public void TryReadMessage_FlagOne_ReportsCompressed()
    {
        var buffer = new ReadOnlySequence<byte>([.. Header(1, 1), 0x42]);

        Assert.True(MessageFraming.TryReadMessage(ref buffer, null, out var compressed, out _));
        Assert.True(compressed);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("identity")]
    public void Decode_CompressedFlagWithoutCoding_Internal(string? encodingName)
    {
        var decoder = new MessageDecoder(null, encoding: null, encodingName);
        var payload = new ReadOnlySequence<byte>(Sample(5).ToByteArray());

        var ex = Assert.Throws<RpcException>(() => decoder.Decode(payload, compressed: true, PayloadMarshaller));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
    }

    public static TheoryData<string> Codings => new() { "gzip", "deflate" };

    [Theory]
    [MemberData(nameof(Codings))]
    public void WriteThenRead_Compressed_RoundTrips(string coding)
    {
        var provider = CompressionProviders.Find(CompressionProviders.Default, coding)!;
        var message = new Payload { Body = ByteString.CopyFrom(new byte[100_000]) };

        var framed = Frame(message, provider);
        var buffer = SequenceBuilder.Split(framed, 3, framed.Length / 2);
        Assert.True(MessageFraming.TryReadMessage(ref buffer, null, out var compressed, out var payload));
        var decoder = new MessageDecoder(null, provider, coding);
        var decoded = decoder.Decode(payload, compressed, PayloadMarshaller);

        Assert.True(compressed);
        Assert.True(framed.Length < 1000, $"{coding} frame of 100 kB of zeros is {framed.Length} bytes");
        Assert.Equal(message, decoded);
        Assert.True(decoder.LastMessageCompressed);
    }

    [Fact]
    public void Deflate_IsZlibFormat()
    {
        var framed = Frame(Sample(), new DeflateCompressionProvider());

        // RFC 1950: CMF 0x78 (deflate, 32K window); (CMF*256 + FLG) % 31 == 0.
        Assert.Equal(0x78, framed[5]);
        Assert.Equal(0, ((framed[5] * 256) + framed[6]) % 31);
    }

    [Fact]
    public void Gzip_IsGzipFormat()
    {
        var framed = Frame(Sample(), new GzipCompressionProvider());

        Assert.Equal([0x1f, 0x8b], framed[5..7]);
    }

    [Fact]
    public void Decode_InflatesPastLimit_ResourceExhausted()
    {
        var provider = new GzipCompressionProvider();
        var framed = Frame(new Payload { Body = ByteString.CopyFrom(new byte[1_000_000]) }, provider);
        var buffer = new ReadOnlySequence<byte>(framed);
        Assert.True(MessageFraming.TryReadMessage(ref buffer, 64 * 1024, out var compressed, out var payload));

        var ex = Assert.Throws<RpcException>(() => new MessageDecoder(64 * 1024, provider, "gzip").Decode(payload, compressed, PayloadMarshaller));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Fact]
    public void Decode_CorruptCompressedData_Internal()
    {
        // A gzip header, then a deflate block of the reserved type 3 (BFINAL=1, BTYPE=11).
        var payload = new ReadOnlySequence<byte>([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x07, 0x00, 0x00]);

        var ex = Assert.Throws<RpcException>(() => new MessageDecoder(null, new GzipCompressionProvider(), "gzip").Decode(payload, compressed: true, PayloadMarshaller));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
    }

    [Fact]
    public void Decode_InvalidProtobuf_Internal()
    {
        var payload = new ReadOnlySequence<byte>([0x0a, 0x05, 0x01]);

        var ex = Assert.Throws<RpcException>(() => new MessageDecoder(null, null, null).Decode(payload, compressed: false, PayloadMarshaller));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
    }

    [Fact]
    public void WriteMessage_OverSendLimit_ResourceExhausted()
    {
        var ex = Assert.Throws<RpcException>(() => MessageFraming.WriteMessage(new ArrayBufferWriter<byte>(), Sample(100), PayloadMarshaller, null, maxSendMessageSize: 50));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Fact]
    public async Task ReadSingleMessage_MessageArrivesInPieces_Returned()
    {
        var message = Sample(1000);
        var framed = Frame(message);
        var pipe = new Pipe();
        var read = MessageFraming.ReadSingleMessageAsync(pipe.Reader, PayloadMarshaller, new MessageDecoder(null, null, null), CancellationToken.None).AsTask();

        foreach (var chunk in framed.Chunk(97))
        {
            await pipe.Writer.WriteAsync(chunk);
            Assert.False(read.IsCompleted);
        }

        // The message is complete, but only end of stream proves nothing follows it.
        Assert.False(read.IsCompleted);
        await pipe.Writer.CompleteAsync();

        Assert.Equal(message, await read);
    }

    [Fact]
    public async Task ReadSingleMessage_DataAfterMessage_Internal()
    {
        var ex = await ReadSingleAsync([.. Frame(Sample(10)), 0x00]);

        Assert.Equal(StatusCode.Internal, ex!.StatusCode);
    }

    [Fact]
    public async Task ReadSingleMessage_NoMessage_Internal()
    {
        var ex = await ReadSingleAsync([]);

        Assert.Equal(StatusCode.Internal, ex!.StatusCode);
    }

    [Fact]
    public async Task ReadSingleMessage_TruncatedMessage_Internal()
    {
        var ex = await ReadSingleAsync(Frame(Sample(10))[..^3]);

        Assert.Equal(StatusCode.Internal, ex!.StatusCode);
        Assert.Contains("Incomplete", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadSingleMessage_OversizedPrefix_RefusedBeforePayload()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Header(0, 5_000_000));

        // The writer is not completed and no payload was sent: the refusal comes from the prefix.
        var ex = await Assert.ThrowsAsync<RpcException>(() => MessageFraming.ReadSingleMessageAsync(pipe.Reader, PayloadMarshaller, new MessageDecoder(4 * 1024 * 1024, null, null), CancellationToken.None).AsTask());

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    private static async Task<RpcException?> ReadSingleAsync(byte[] body)
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(body);
        await pipe.Writer.CompleteAsync();
        try
        {
            await MessageFraming.ReadSingleMessageAsync(pipe.Reader, PayloadMarshaller, new MessageDecoder(null, null, null), CancellationToken.None);
            return null;
        }
        catch (RpcException ex)
        {
            return ex;
        }
    }
}
