using System.Buffers;
using System.Net.Http.Headers;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;

namespace Gateway.Grpc.Adapters.Http;

/// <summary>Writing request bodies with <see cref="Utf8JsonWriter"/>: no reflection, no intermediate strings.</summary>
internal static class JsonWriting
{
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json") { CharSet = "utf-8" };

    /// <summary>Largest scratch buffer a thread keeps between bodies; a bigger one is dropped after use.</summary>
    private const int KeptScratchBytes = 64 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>
    /// Builds an application/json body by running <paramref name="write"/> on a writer. The JSON
    /// is written into a per-thread scratch buffer (zeroed after each body, so no prompt text
    /// stays in it) and copied once into an array of its exact size: one allocation per body
    /// instead of a growing buffer and a copy.
    /// </summary>
    public static ByteArrayContent Content<TState>(TState state, Action<Utf8JsonWriter, TState> write)
    {
        var scratch = t_scratch ??= new ArrayBufferWriter<byte>(4096);
        var writer = t_writer ??= new Utf8JsonWriter(scratch);
        try
        {
            writer.Reset(scratch);
            write(writer, state);
            writer.Flush();
            var content = new ByteArrayContent(scratch.WrittenSpan.ToArray());
            content.Headers.ContentType = JsonMediaType;
            return content;
        }
        finally
        {
            writer.Reset();
            scratch.Clear();
            if (scratch.Capacity > KeptScratchBytes)
            {
                t_scratch = null;
                t_writer = null;
            }
        }
    }

    /// <summary>Writes a protobuf Struct as a JSON object.</summary>
    public static void WriteStruct(Utf8JsonWriter writer, Struct? value)
    {
        writer.WriteStartObject();
        if (value is not null)
        {
            foreach (var (key, field) in value.Fields)
            {
                writer.WritePropertyName(key);
                WriteValue(writer, field);
            }
        }

        writer.WriteEndObject();
    }

    public static void WriteValue(Utf8JsonWriter writer, Value? value)
    {
        switch (value?.KindCase ?? Value.KindOneofCase.NullValue)
        {
            case Value.KindOneofCase.StringValue:
                writer.WriteStringValue(value!.StringValue);
                break;
            case Value.KindOneofCase.NumberValue:
                var n = value!.NumberValue;
                if (double.IsFinite(n))
                {
                    writer.WriteNumberValue(n);
                }
                else
                {
                    writer.WriteNullValue();
                }

                break;
            case Value.KindOneofCase.BoolValue:
                writer.WriteBooleanValue(value!.BoolValue);
                break;
            case Value.KindOneofCase.StructValue:
                WriteStruct(writer, value!.StructValue);
                break;
            case Value.KindOneofCase.ListValue:
                writer.WriteStartArray();
                foreach (var item in value!.ListValue.Values)
                {
                    WriteValue(writer, item);
                }

                writer.WriteEndArray();
                break;
            default:
                writer.WriteNullValue();
                break;
        }
    }

    /// <summary>
    /// Writes tool-call arguments (model-produced JSON text) as a JSON object value. Empty text is
    /// <c>{}</c>; text that is not a JSON object is refused as a bad request.
    /// </summary>
    public static void WriteArgumentsObject(Utf8JsonWriter writer, string argumentsJson, string provider)
    {
        if (string.IsNullOrWhiteSpace(argumentsJson))
        {
            writer.WriteStartObject();
            writer.WriteEndObject();
            return;
        }

        try
        {
            using var doc = JsonDocument.Parse(argumentsJson);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ProviderException(ProviderErrorKind.BadRequest, $"messages: tool call arguments must be a JSON object for {provider}, got {doc.RootElement.ValueKind}.");
            }

            doc.RootElement.WriteTo(writer);
        }
        catch (JsonException ex)
        {
            throw new ProviderException(ProviderErrorKind.BadRequest, $"messages: tool call arguments are not valid JSON ({ex.Message}); {provider} needs a JSON object.");
        }
    }
}
