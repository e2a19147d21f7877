using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Gateway.Grpc.Simulator.Generation;

/// <summary>
/// Makes a deterministic JSON value that satisfies a (JSON Schema or Gemini OpenAPI-subset) schema:
/// every property present, enums take their first value, arrays one or two items. Type names
/// are matched case-insensitively so Gemini's "OBJECT"/"STRING" work too.
/// </summary>
internal static class SchemaSampler
{
    private const int MaxDepth = 8;

    public static string Sample(JsonElement? schema, ref DeterministicRandom random)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            if (schema is { ValueKind: JsonValueKind.Object } s)
            {
                Write(writer, s, ref random, 0);
            }
            else
            {
                writer.WriteStartObject();
                writer.WriteEndObject();
            }
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void Write(Utf8JsonWriter writer, JsonElement schema, ref DeterministicRandom random, int depth)
    {
        if (schema.ValueKind != JsonValueKind.Object || depth > MaxDepth)
        {
            writer.WriteNullValue();
            return;
        }

        if (schema.TryGetProperty("const", out var constant))
        {
            constant.WriteTo(writer);
            return;
        }

        if (schema.TryGetProperty("enum", out var values) && values.ValueKind == JsonValueKind.Array && values.GetArrayLength() > 0)
        {
            values[0].WriteTo(writer);
            return;
        }

        foreach (var combinator in (ReadOnlySpan<string>)["anyOf", "oneOf", "allOf"])
        {
            if (schema.TryGetProperty(combinator, out var options) && options.ValueKind == JsonValueKind.Array)
            {
                foreach (var option in options.EnumerateArray())
                {
                    if (!IsNullType(option))
                    {
                        Write(writer, option, ref random, depth + 1);
                        return;
                    }
                }
            }
        }

        switch (TypeOf(schema))
        {
            case "object":
                writer.WriteStartObject();
                if (schema.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object)
                {
                    foreach (var property in properties.EnumerateObject())
                    {
                        writer.WritePropertyName(property.Name);
                        Write(writer, property.Value, ref random, depth + 1);
                    }
                }

                writer.WriteEndObject();
                break;
            case "array":
                writer.WriteStartArray();
                var count = 1 + random.Next(2);
                if (schema.TryGetProperty("minItems", out var min) && min.TryGetInt32(out var minItems))
                {
                    count = Math.Clamp(minItems, count, 5);
                }

                var items = schema.TryGetProperty("items", out var itemSchema) ? itemSchema : default;
                for (var i = 0; i < count; i++)
                {
                    if (items.ValueKind == JsonValueKind.Object)
                    {
                        Write(writer, items, ref random, depth + 1);
                    }
                    else
                    {
                        writer.WriteStringValue(Words.Phrase(ref random, 1));
                    }
                }

                writer.WriteEndArray();
                break;
            case "integer":
                writer.WriteNumberValue(Bounded(schema, random.Next(100)));
                break;
            case "number":
                writer.WriteNumberValue(Math.Round(Bounded(schema, random.Next(1000)) / 10.0, 1));
                break;
            case "boolean":
                writer.WriteBooleanValue(random.Next(2) == 0);
                break;
            case "null":
                writer.WriteNullValue();
                break;
            default:
                writer.WriteStringValue(StringFor(schema, ref random));
                break;
        }
    }

    private static int Bounded(JsonElement schema, int value)
    {
        if (schema.TryGetProperty("minimum", out var min) && min.TryGetDouble(out var lo) && value < lo)
        {
            value = (int)Math.Ceiling(lo);
        }

        if (schema.TryGetProperty("maximum", out var max) && max.TryGetDouble(out var hi) && value > hi)
        {
            value = (int)Math.Floor(hi);
        }

        return value;
    }

    private static string StringFor(JsonElement schema, ref DeterministicRandom random)
    {
        var format = schema.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
        return format switch
        {
            "date-time" => "2025-01-15T09:30:00Z",
            "date" => "2025-01-15",
            "time" => "09:30:00",
            "email" => "user@example.com",
            "uri" or "url" => "https://example.com/item",
            "uuid" => "3f2c1b9e-8d4a-4c7e-9b1a-2e5f6d7c8b9a",
            _ => Words.Phrase(ref random, 1 + random.Next(3)),
        };
    }

    private static string TypeOf(JsonElement schema)
    {
        if (schema.TryGetProperty("type", out var type))
        {
            if (type.ValueKind == JsonValueKind.String)
            {
                return type.GetString()!.ToLowerInvariant();
            }

            if (type.ValueKind == JsonValueKind.Array)
            {
                foreach (var t in type.EnumerateArray())
                {
                    if (t.ValueKind == JsonValueKind.String && !string.Equals(t.GetString(), "null", StringComparison.OrdinalIgnoreCase))
                    {
                        return t.GetString()!.ToLowerInvariant();
                    }
                }
            }
        }

        if (schema.TryGetProperty("properties", out _))
        {
            return "object";
        }

        return schema.TryGetProperty("items", out _) ? "array" : "string";
    }

    private static bool IsNullType(JsonElement schema)
        => schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            && string.Equals(t.GetString(), "null", StringComparison.OrdinalIgnoreCase);
}

/// <summary>The simulator's vocabulary: each word is one output token.</summary>
internal static class Words
{
    public static readonly string[] Vocabulary =
    [
        "the", "gateway", "routes", "every", "request", "to", "a", "healthy", "model", "and",
        "streams", "tokens", "back", "as", "they", "arrive", "while", "budgets", "limits", "keep",
        "traces", "teams", "safe", "fast", "simple", "reliable", "provider", "answers", "with", "clear",
        "typed", "events", "so", "clients", "know", "when", "it", "is", "done", "deadline",
        "cancel", "retry", "fallback", "hedge", "cache", "cost", "usage", "metric", "log", "of",
        "for", "on", "in", "this", "that", "we", "you", "can", "will", "now",
        "here", "more", "less", "quickly",
    ];

    public static string Phrase(ref DeterministicRandom random, int words)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < words; i++)
        {
            if (i > 0)
            {
                sb.Append(' ');
            }

            sb.Append(Vocabulary[random.Next(Vocabulary.Length)]);
        }

        return sb.ToString();
    }

    /// <summary>Sentence-cased words with full stops, one token per entry (leading space included after the first).</summary>
    public static List<string> Tokens(ref DeterministicRandom random, int count)
    {
        var tokens = new List<string>(count);
        var sinceStop = 0;
        for (var i = 0; i < count; i++)
        {
            var word = Vocabulary[random.Next(Vocabulary.Length)];
            if (sinceStop == 0)
            {
                word = string.Create(CultureInfo.InvariantCulture, $"{char.ToUpperInvariant(word[0])}{word.AsSpan(1)}");
            }

            sinceStop++;
            if (i == count - 1 || (sinceStop >= 6 && random.Next(5) == 0))
            {
                word += ".";
                sinceStop = 0;
            }

            tokens.Add(i == 0 ? word : " " + word);
        }

        return tokens;
    }
}
