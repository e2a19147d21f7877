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
    /// Marks a keyed hash: <c>hmac-sha256:</c> + HMAC-SHA256 under the trail's secret key instead
    /// of a plain SHA-256. Without the key nobody can rewrite a keyed entry (or the ones after it)
    /// and make the chain verify again.
    /// </summary>
    public const string KeyedPrefix = "hmac-sha256:";

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

    /// <summary>The entry's hash: SHA-256, or with <paramref name="key"/> the keyed HMAC-SHA256 (prefixed <see cref="KeyedPrefix"/>).</summary>
    public static string ComputeHash(string previousHash, long sequence, string timestamp, string action, string actor, string details, byte[]? key = null)
    {
        var entry = CanonicalEntry(sequence, timestamp, action, actor, details);
        var input = new byte[Encoding.UTF8.GetByteCount(previousHash) + entry.Length];
        var written = Encoding.UTF8.GetBytes(previousHash, input);
        entry.CopyTo(input, written);
        return key is null
            ? Convert.ToHexStringLower(SHA256.HashData(input))
            : KeyedPrefix + Convert.ToHexStringLower(HMACSHA256.HashData(key, input));
    }

    public static bool IsKeyed(string hash) => hash.StartsWith(KeyedPrefix, StringComparison.Ordinal);

    /// <summary>Checks one record against its predecessor; null when it holds, else why not.</summary>
    /// <summary>
    /// Checks one record against its predecessor; null when it holds, else why not. A keyed entry
    /// needs <paramref name="key"/>; once a keyed entry was seen (<paramref name="keyedSeen"/>) every
    /// later one must be keyed too, so a tail rewritten without the key cannot pass as unkeyed.
    /// </summary>
    public static string? Check(AuditRecord record, long expectedSequence, string expectedPrevious, byte[]? key = null, bool keyedSeen = false)
    {
        ArgumentNullException.ThrowIfNull(record);
        var keyed = IsKeyed(record.Hash);
        if (keyed && key is null)
        {
            return "the entry is keyed (HMAC-SHA256): verify with the trail's key (--key env:NAME or file:/path)";
        }

        if (!keyed && keyedSeen)
        {
            return "an unkeyed entry after keyed ones: the tail was rewritten without the key";
        }

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
            computed = ComputeHash(record.PreviousHash, record.Sequence, record.Timestamp, record.Action, record.Actor, record.Details, keyed ? key : null);
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
