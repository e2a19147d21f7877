using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Gateway.Grpc.Observability.Audit;

/// <summary>The hash chain: canonical entry JSON, entry hashes, and checking a sequence of records.</summary>
public static class AuditChain
{
    /// <summary>The previous hash of the first entry.</summary>
    public static readonly string GenesisHash = new('0', 64);

    /// <summary>
    /// <c>{"action":..,"actor":..,"details":..,"seq":..,"ts":..}</c>: keys sorted by ordinal,
    /// no whitespace, details canonical (object keys sorted at every level, numbers as written).
    /// Strings escape only what JSON requires (quote, backslash, controls; RFC 8785 §3.2.2.2),
    /// written here rather than by an encoder whose choices could change between runtimes.
    /// </summary>
    public static byte[] CanonicalEntry(long sequence, string timestamp, string action, string actor, string details)
    {
        var builder = new StringBuilder(256);
        builder.Append("{\"action\":");
        AppendString(builder, action);
        builder.Append(",\"actor\":");
        AppendString(builder, actor);
        builder.Append(",\"details\":");
        using (var document = JsonDocument.Parse(details))
        {
            AppendCanonical(builder, document.RootElement);
        }

        builder.Append(",\"seq\":").Append(sequence.ToString(CultureInfo.InvariantCulture));
        builder.Append(",\"ts\":");
        AppendString(builder, timestamp);
        builder.Append('}');
        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    /// <summary>Canonical JSON text of a details value (any JSON; usually an object or null).</summary>
    public static string CanonicalDetails(string json)
    {
        var builder = new StringBuilder(json.Length);
        using var document = JsonDocument.Parse(json);
        AppendCanonical(builder, document.RootElement);
        return builder.ToString();
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

    private static void AppendCanonical(StringBuilder builder, JsonElement element)
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
                builder.Append('{');
                for (var i = 0; i < properties.Count; i++)
                {
                    if (i > 0)
                    {
                        builder.Append(',');
                    }

                    AppendString(builder, properties[i].Name);
                    builder.Append(':');
                    AppendCanonical(builder, properties[i].Value);
                }

                builder.Append('}');
                break;
            case JsonValueKind.Array:
                builder.Append('[');
                var first = true;
                foreach (var item in element.EnumerateArray())
                {
                    if (!first)
                    {
                        builder.Append(',');
                    }

                    first = false;
                    AppendCanonical(builder, item);
                }

                builder.Append(']');
                break;
            case JsonValueKind.String:
                AppendString(builder, element.GetString()!);
                break;
            case JsonValueKind.Number:
                builder.Append(element.GetRawText());
                break;
            case JsonValueKind.True:
                builder.Append("true");
                break;
            case JsonValueKind.False:
                builder.Append("false");
                break;
            default:
                builder.Append("null");
                break;
        }
    }

    private static void AppendString(StringBuilder builder, string value)
    {
        builder.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"':
                    builder.Append("\\\"");
                    break;
                case '\\':
                    builder.Append("\\\\");
                    break;
                case '\b':
                    builder.Append("\\b");
                    break;
                case '\f':
                    builder.Append("\\f");
                    break;
                case '\n':
                    builder.Append("\\n");
                    break;
                case '\r':
                    builder.Append("\\r");
                    break;
                case '\t':
                    builder.Append("\\t");
                    break;
                default:
                    if (c < 0x20)
                    {
                        builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }

                    break;
            }
        }

        builder.Append('"');
    }
}
