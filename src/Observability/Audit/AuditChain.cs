using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Gateway.Grpc.Observability.Audit;

/// <summary>The hash chain: canonical entry JSON, entry hashes, and checking a sequence of records.</summary>
public static class AuditChain
{
    /// <summary>The previous hash of the first entry.</summary>
    public static readonly string GenesisHash = new('0', 64);

    private static readonly JsonWriterOptions CanonicalOptions = new() { Indented = false };

    /// <summary>
    /// <c>{"action":..,"actor":..,"details":..,"seq":..,"ts":..}</c>: keys sorted by ordinal,
    /// no whitespace, details canonical (object keys sorted at every level, numbers as written).
    /// </summary>
    public static byte[] CanonicalEntry(long sequence, string timestamp, string action, string actor, string details)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer, CanonicalOptions))
        {
            json.WriteStartObject();
            json.WriteString("action", action);
            json.WriteString("actor", actor);
            json.WritePropertyName("details");
            using (var document = JsonDocument.Parse(details))
            {
                WriteCanonical(json, document.RootElement);
            }

            json.WriteNumber("seq", sequence);
            json.WriteString("ts", timestamp);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Canonical JSON text of a details value (any JSON; usually an object or null).</summary>
    public static string CanonicalDetails(string json)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, CanonicalOptions))
        using (var document = JsonDocument.Parse(json))
        {
            WriteCanonical(writer, document.RootElement);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static string ComputeHash(string previousHash, long sequence, string timestamp, string action, string actor, string details)
    {
        var entry = CanonicalEntry(sequence, timestamp, action, actor, details);
        var input = new byte[previousHash.Length + entry.Length];
        Encoding.ASCII.GetBytes(previousHash, input);
        entry.CopyTo(input, previousHash.Length);
        return Convert.ToHexStringLower(SHA256.HashData(input));
    }

    /// <summary>Checks one record against its predecessor; null when it holds, else why not.</summary>
    public static string? Check(AuditRecord record, long expectedSequence, string expectedPrevious)
    {
        if (record.Sequence != expectedSequence)
        {
            return $"sequence {record.Sequence} where {expectedSequence} was expected (an entry was removed, inserted or moved)";
        }

        if (!string.Equals(record.PreviousHash, expectedPrevious, StringComparison.Ordinal))
        {
            return $"prev {Short(record.PreviousHash)} does not match the hash of the entry before it ({Short(expectedPrevious)})";
        }

        string computed;
        try
        {
            computed = ComputeHash(record.PreviousHash, record.Sequence, record.Timestamp, record.Action, record.Actor, record.Details);
        }
        catch (JsonException ex)
        {
            return "details are not valid JSON: " + ex.Message;
        }

        return string.Equals(computed, record.Hash, StringComparison.Ordinal)
            ? null
            : $"hash {Short(record.Hash)} does not match its content (computed {Short(computed)}): the entry was modified";
    }

    private static string Short(string hash) => hash.Length > 16 ? hash[..16] + "…" : hash;

    private static void WriteCanonical(Utf8JsonWriter json, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var properties = new List<JsonProperty>();
                foreach (var property in element.EnumerateObject())
                {
                    properties.Add(property);
                }

                properties.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
                json.WriteStartObject();
                foreach (var property in properties)
                {
                    json.WritePropertyName(property.Name);
                    WriteCanonical(json, property.Value);
                }

                json.WriteEndObject();
                break;
            case JsonValueKind.Array:
                json.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteCanonical(json, item);
                }

                json.WriteEndArray();
                break;
            case JsonValueKind.String:
                json.WriteStringValue(element.GetString());
                break;
            case JsonValueKind.Number:
                json.WriteRawValue(element.GetRawText(), skipInputValidation: true);
                break;
            case JsonValueKind.True:
                json.WriteBooleanValue(true);
                break;
            case JsonValueKind.False:
                json.WriteBooleanValue(false);
                break;
            default:
                json.WriteNullValue();
                break;
        }
    }
}
