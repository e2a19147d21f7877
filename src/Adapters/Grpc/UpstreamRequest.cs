using System.Text;
using Gateway.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Gateway.Grpc.Adapters.Grpc;

/// <summary>
/// The request a gRPC upstream is sent. When the caller's request carries nothing the upstream
/// must not see (no routing options; metadata only where it is forwarded), it goes out as it
/// is, with the deployment's upstream model written after it: protobuf takes the last value of
/// a singular field that appears twice, so the upstream reads that model, and no copy of the
/// request (its messages, tools and maps) is made per attempt. Otherwise a trimmed copy goes out.
/// </summary>
internal sealed class UpstreamRequest
{
    private const byte ModelTag = (1 << 3) | 2; // field 1 (model), length-delimited

    private UpstreamRequest(CompletionRequest message, string? modelOverride)
    {
        Message = message;
        ModelOverride = modelOverride;
    }

    /// <summary>The message written first.</summary>
    public CompletionRequest Message { get; }

    /// <summary>The model written after <see cref="Message"/> (null: the message's own model stands).</summary>
    public string? ModelOverride { get; }

    public static UpstreamRequest For(CompletionRequest request, string upstreamModel, bool forwardMetadata)
    {
        if (request.Routing is null && (forwardMetadata || request.Metadata.Count == 0))
        {
            return new UpstreamRequest(request, string.Equals(request.Model, upstreamModel, StringComparison.Ordinal) ? null : upstreamModel);
        }

        var copy = request.Clone();
        copy.Model = upstreamModel;
        copy.Routing = null;
        if (!forwardMetadata)
        {
            copy.Metadata.Clear();
        }

        return new UpstreamRequest(copy, null);
    }

    /// <summary>The wire form of the request (what the upstream parses), for tests and logs.</summary>
    public byte[] ToByteArray()
    {
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        Write(writer);
        return writer.WrittenSpan.ToArray();
    }

    private int Size => Message.CalculateSize() + (ModelOverride is null ? 0 : CodedOutputStream.ComputeTagSize(1) + CodedOutputStream.ComputeStringSize(ModelOverride));

    private void Write(System.Buffers.IBufferWriter<byte> writer)
    {
        Message.WriteTo(writer);
        if (ModelOverride is { } model)
        {
            var length = Encoding.UTF8.GetByteCount(model);
            var span = writer.GetSpan(1 + 5 + length);
            span[0] = ModelTag;
            var at = 1;
            var remaining = (uint)length;
            while (remaining >= 0x80)
            {
                span[at++] = (byte)(remaining | 0x80);
                remaining >>= 7;
            }

            span[at++] = (byte)remaining;
            at += Encoding.UTF8.GetBytes(model, span[at..]);
            writer.Advance(at);
        }
    }

    private static readonly Marshaller<UpstreamRequest> RequestMarshaller = Marshallers.Create<UpstreamRequest>(
        static (request, context) =>
        {
            context.SetPayloadLength(request.Size);
            request.Write(context.GetBufferWriter());
            context.Complete();
        },
        static _ => throw new NotSupportedException("Upstream requests are only written."));

    private static readonly Marshaller<CompletionResponse> ResponseMarshaller = Marshallers.Create(
        static (_, _) => throw new NotSupportedException("Upstream responses are only read."),
        static context => UpstreamResponseReader.Read(context.PayloadAsReadOnlySequence()));

    private static readonly Marshaller<CompletionChunk> ChunkMarshaller = Marshallers.Create(
        static (_, _) => throw new NotSupportedException("Upstream stream events are only read."),
        static context => CompletionChunk.Parser.ParseFrom(context.PayloadAsReadOnlySequence()));

    /// <summary>gateway.v1.Completion/Complete, sending an <see cref="UpstreamRequest"/>.</summary>
    public static readonly Method<UpstreamRequest, CompletionResponse> Complete = new(
        MethodType.Unary, Completion.Descriptor.FullName, "Complete", RequestMarshaller, ResponseMarshaller);

    /// <summary>gateway.v1.Completion/StreamComplete, sending an <see cref="UpstreamRequest"/>.</summary>
    public static readonly Method<UpstreamRequest, CompletionChunk> StreamComplete = new(
        MethodType.ServerStreaming, Completion.Descriptor.FullName, "StreamComplete", RequestMarshaller, ChunkMarshaller);
}
