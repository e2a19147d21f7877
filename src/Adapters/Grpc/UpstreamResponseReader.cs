using System.Text;
using Gateway.V1;
using Google.Protobuf;

namespace Gateway.Grpc.Adapters.Grpc;

/// <summary>
/// Reads a gRPC upstream's unary <see cref="CompletionResponse"/> without making the strings
/// the adapter throws away: the upstream's <c>id</c>, <c>provider</c>, <c>routing</c> and
/// <c>created</c> are replaced by the gateway's own, so they are stepped over instead of
/// parsed, and the <c>model</c> name (almost always one of a few) comes from a small cache
/// of names already seen. The message and usage are parsed by Google.Protobuf. Anything this
/// reader does not expect (an unknown field, a wire type that does not match, a payload in
/// several segments, a truncated field) goes to the library's parser, which also gives
/// malformed input its usual <see cref="InvalidProtocolBufferException"/>.
/// </summary>
internal static class UpstreamResponseReader
{
    private const int WireVarint = 0;
    private const int WireLengthDelimited = 2;

    /// <summary>The process's model names: a gateway's upstream model names are the few its deployments name.</summary>
    private static readonly ModelNames Models = new(16);

    public static CompletionResponse Read(System.Buffers.ReadOnlySequence<byte> payload)
        => payload.IsSingleSegment && TryRead(payload.FirstSpan, Models, out var response)
            ? response
            : CompletionResponse.Parser.ParseFrom(payload);

    /// <summary>False when the payload needs the library's parser (see the type's summary).</summary>
    internal static bool TryRead(ReadOnlySpan<byte> payload, ModelNames models, out CompletionResponse response)
    {
        response = new CompletionResponse();
        var at = 0;
        while (at < payload.Length)
        {
            if (!TryVarint(payload, ref at, out var tag) || tag > uint.MaxValue)
            {
                return false;
            }

            var field = (int)(tag >> 3);
            var wire = (int)(tag & 7);
            if (wire == WireVarint)
            {
                if (!TryVarint(payload, ref at, out var value))
                {
                    return false;
                }

                switch (field)
                {
                    case CompletionResponse.FinishReasonFieldNumber:
                        response.FinishReason = (FinishReason)(int)value;
                        break;
                    case CompletionResponse.CreatedFieldNumber:
                        break;
                    default:
                        return false;
                }

                continue;
            }

            if (wire != WireLengthDelimited || !TryVarint(payload, ref at, out var length) || length > (ulong)(payload.Length - at))
            {
                return false;
            }

            var bytes = payload.Slice(at, (int)length);
            at += (int)length;
            switch (field)
            {
                case CompletionResponse.IdFieldNumber:
                case CompletionResponse.ProviderFieldNumber:
                case CompletionResponse.RoutingFieldNumber:
                    break;
                case CompletionResponse.ModelFieldNumber:
                    response.Model = models.Get(bytes);
                    break;
                case CompletionResponse.MessageFieldNumber:
                    (response.Message ??= new Message()).MergeFrom(bytes);
                    break;
                case CompletionResponse.UsageFieldNumber:
                    (response.Usage ??= new Usage()).MergeFrom(bytes);
                    break;
                default:
                    return false;
            }
        }

        return true;
    }

    private static bool TryVarint(ReadOnlySpan<byte> payload, ref int at, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && at < payload.Length; shift += 7)
        {
            var b = payload[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Model names by their UTF-8 bytes: a cached string when seen before, else a new one,
    /// cached while there is room (first come; never evicted, so a name never costs more
    /// than the string it would have been).
    /// </summary>
    internal sealed class ModelNames(int capacity)
    {
        private const int MaxCachedBytes = 128;

        private readonly Entry?[] _entries = new Entry?[capacity];

        public string Get(ReadOnlySpan<byte> utf8)
        {
            var entries = _entries;
            for (var i = 0; i < entries.Length; i++)
            {
                var cached = Volatile.Read(ref entries[i]);
                if (cached is null)
                {
                    break;
                }

                if (utf8.SequenceEqual(cached.Utf8))
                {
                    return cached.Value;
                }
            }

            var value = Encoding.UTF8.GetString(utf8);
            if (utf8.Length <= MaxCachedBytes && Volatile.Read(ref entries[^1]) is null)
            {
                var entry = new Entry(value, utf8.ToArray());
                for (var i = 0; i < entries.Length; i++)
                {
                    // Two threads may cache the same name twice; both entries are correct.
                    if (Interlocked.CompareExchange(ref entries[i], entry, null) is null)
                    {
                        break;
                    }
                }
            }

            return value;
        }

        private sealed record Entry(string Value, byte[] Utf8);
    }
}
