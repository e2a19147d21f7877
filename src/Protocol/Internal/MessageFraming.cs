using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using Gateway.Grpc.Protocol.Compression;

namespace Gateway.Grpc.Protocol.Internal;

/// <summary>
/// PROTOCOL-HTTP2 "Length-Prefixed-Message": Compressed-Flag (1 byte, 0 or 1),
/// Message-Length (4 bytes, big-endian), Message. Frame boundaries are unrelated to
/// DATA frame boundaries, so parsing works on a buffered sequence.
/// </summary>
internal static class MessageFraming
{
    /// <summary>
    /// Slices the next complete message off <paramref name="buffer"/>. Returns false when more
    /// bytes are needed. The length prefix is checked against the limit before any payload is
    /// buffered, so an oversized message is refused after 5 bytes.
    /// </summary>
    public static bool TryReadMessage(ref ReadOnlySequence<byte> buffer, int? maxMessageSize, out bool compressed, out ReadOnlySequence<byte> payload)
    {
        compressed = false;
        payload = default;
        if (buffer.Length < GrpcProtocolConstants.MessageHeaderSize)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[GrpcProtocolConstants.MessageHeaderSize];
        buffer.Slice(0, GrpcProtocolConstants.MessageHeaderSize).CopyTo(header);
        compressed = header[0] switch
        {
            0 => false,
            1 => true,
            _ => throw new RpcException(new Status(StatusCode.Internal, $"Invalid compressed flag {header[0]} in message header; expected 0 or 1.")),
        };

        var length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        if (maxMessageSize is { } max && length > (uint)max)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"Received message larger than max ({length} vs. {max})."));
        }

        if (length > int.MaxValue - GrpcProtocolConstants.MessageHeaderSize)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"Received message length {length} is too large."));
        }

        var total = GrpcProtocolConstants.MessageHeaderSize + (long)length;
        if (buffer.Length < total)
        {
            return false;
        }

        payload = buffer.Slice(GrpcProtocolConstants.MessageHeaderSize, length);
        buffer = buffer.Slice(total);
        return true;
    }

    /// <summary>Decompresses a payload, refusing to inflate past the receive limit.</summary>
    public static ReadOnlySequence<byte> Decompress(ReadOnlySequence<byte> payload, ICompressionProvider provider, int? maxMessageSize)
    {
        Stream source;
        if (payload.IsSingleSegment && MemoryMarshal.TryGetArray(payload.First, out var segment))
        {
            source = new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false);
        }
        else
        {
            source = new MemoryStream(payload.ToArray(), writable: false);
        }

        using (source)
        using (var inflater = provider.CreateDecompressionStream(source))
        {
            var output = new MemoryStream();
            var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
            try
            {
                int read;
                while ((read = ReadChunk(inflater, chunk)) > 0)
                {
                    if (maxMessageSize is { } max && output.Length + read > max)
                    {
                        throw new RpcException(new Status(StatusCode.ResourceExhausted, $"Received message exceeds the maximum configured message size ({max}) after decompression."));
                    }

                    output.Write(chunk, 0, read);
                }
            }
            catch (InvalidDataException ex)
            {
                throw new RpcException(new Status(StatusCode.Internal, $"Could not decompress message with '{provider.EncodingName}': {ex.Message}"));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }

            return new ReadOnlySequence<byte>(output.GetBuffer(), 0, (int)output.Length);
        }
    }

    private static int ReadChunk(Stream stream, byte[] chunk) => stream.Read(chunk, 0, chunk.Length);

    /// <summary>Writes one framed message; compresses it when a provider is given.</summary>
    public static void WriteMessage<T>(IBufferWriter<byte> writer, T message, Marshaller<T> marshaller, ICompressionProvider? compression, int? maxSendMessageSize)
    {
        if (compression is null)
        {
            var size = marshaller.CalculateSize(message);
            CheckSendSize(size, maxSendMessageSize);
            var header = writer.GetSpan(GrpcProtocolConstants.MessageHeaderSize);
            header[0] = 0;
            BinaryPrimitives.WriteUInt32BigEndian(header[1..], (uint)size);
            writer.Advance(GrpcProtocolConstants.MessageHeaderSize);
            marshaller.Serializer(message, writer);
            return;
        }

        var uncompressed = new ArrayBufferWriter<byte>();
        marshaller.Serializer(message, uncompressed);
        CheckSendSize(uncompressed.WrittenCount, maxSendMessageSize);
        var compressed = new MemoryStream();
        using (var deflater = compression.CreateCompressionStream(compressed, (CompressionLevel?)null))
        {
            deflater.Write(uncompressed.WrittenSpan);
        }

        var length = (int)compressed.Length;
        var span = writer.GetSpan(GrpcProtocolConstants.MessageHeaderSize + length);
        span[0] = 1;
        BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)length);
        compressed.GetBuffer().AsSpan(0, length).CopyTo(span[GrpcProtocolConstants.MessageHeaderSize..]);
        writer.Advance(GrpcProtocolConstants.MessageHeaderSize + length);
    }

    private static void CheckSendSize(int size, int? max)
    {
        if (max is { } limit && size > limit)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"Sending message exceeds the maximum configured message size ({size} vs. {limit})."));
        }
    }

    /// <summary>
    /// Reads one message from a pipe for a call that expects exactly one (unary and
    /// server-streaming requests, unary responses): anything after it, or a partial message, is
    /// INTERNAL.
    /// </summary>
    public static async ValueTask<T> ReadSingleMessageAsync<T>(System.IO.Pipelines.PipeReader reader, Marshaller<T> marshaller, MessageDecoder decoder, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var examined = buffer.End;
            try
            {
                if (result.IsCanceled)
                {
                    throw new OperationCanceledException("Read was cancelled.");
                }

                var remaining = buffer;
                if (TryReadMessage(ref remaining, decoder.MaxReceiveMessageSize, out var compressed, out var payload))
                {
                    if (!remaining.IsEmpty || !result.IsCompleted)
                    {
                        // Wait for end of stream to make sure nothing follows the message.
                        if (!remaining.IsEmpty)
                        {
                            throw new RpcException(new Status(StatusCode.Internal, "Additional data after the message received."));
                        }

                        consumed = buffer.Start;
                        examined = buffer.End;
                        continue;
                    }

                    var message = decoder.Decode(payload, compressed, marshaller);
                    consumed = buffer.End;
                    return message;
                }

                if (result.IsCompleted)
                {
                    if (buffer.IsEmpty)
                    {
                        throw new RpcException(new Status(StatusCode.Internal, "Request did not contain a message; expected exactly one."));
                    }

                    throw new RpcException(new Status(StatusCode.Internal, "Incomplete message."));
                }
            }
            finally
            {
                reader.AdvanceTo(consumed, examined);
            }
        }
    }
}

/// <summary>Per-call decoding settings: receive limit and the call's message coding.</summary>
internal sealed class MessageDecoder(int? maxReceiveMessageSize, ICompressionProvider? encoding, string? encodingName)
{
    public int? MaxReceiveMessageSize { get; } = maxReceiveMessageSize;

    /// <summary>Whether the last decoded message had the compressed flag.</summary>
    public bool LastMessageCompressed { get; private set; }

    public T Decode<T>(ReadOnlySequence<byte> payload, bool compressed, Marshaller<T> marshaller)
    {
        LastMessageCompressed = compressed;
        if (compressed)
        {
            if (encoding is null)
            {
                var name = encodingName is null or GrpcProtocolConstants.IdentityEncoding ? "no grpc-encoding" : $"grpc-encoding '{encodingName}'";
                throw new RpcException(new Status(StatusCode.Internal, $"Message is flagged compressed but the call has {name}."));
            }

            payload = MessageFraming.Decompress(payload, encoding, MaxReceiveMessageSize);
        }

        try
        {
            return marshaller.Deserializer(payload);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException ex)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"Failed to deserialize message: {ex.Message}"));
        }
    }
}
