using System.Globalization;
using System.Text.Json;

namespace Gateway.Grpc.Guardrails.Format;

/// <summary>
/// Checks an answer against the JSON schema of <c>response_format</c>. Covers the subset that
/// structured-output providers accept (OpenAI strict mode, Gemini responseSchema): type (one or
/// a list), properties, required, additionalProperties (false or a schema), items, enum, const,
/// anyOf / oneOf / allOf, minLength / maxLength, minimum / maximum (and exclusive), minItems /
/// maxItems, and local <c>$ref</c> to <c>#/$defs/...</c> or <c>#/definitions/...</c>. Unknown
/// keywords are ignored (never a false failure). The first problem is reported with its JSON path.
/// </summary>
public static class JsonSchemaValidator
{
    /// <summary>Null when <paramref name="answer"/> is JSON matching <paramref name="schema"/>; otherwise the problem, e.g. <c>$.city: required property missing</c>.</summary>
    public static string? Validate(string answer, JsonElement schema)
    {
        ArgumentNullException.ThrowIfNull(answer);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(answer, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            return "$: not valid JSON (" + ex.Message.Split('.')[0] + ")";
        }

        using (document)
        {
            return Check(document.RootElement, schema, schema, "$", 0);
        }
    }

    private static string? Check(JsonElement value, JsonElement schema, JsonElement root, string path, int depth)
    {
        if (depth > 32 || schema.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (schema.TryGetProperty("$ref", out var reference) && reference.GetString() is { } pointer)
        {
            return Resolve(root, pointer) is { } target ? Check(value, target, root, path, depth + 1) : null;
        }

        if (schema.TryGetProperty("type", out var type) && !TypeMatches(value, type))
        {
            return $"{path}: expected {Describe(type)}, got {Kind(value)}";
        }

        if (schema.TryGetProperty("enum", out var options) && options.ValueKind == JsonValueKind.Array)
        {
            var found = false;
            foreach (var option in options.EnumerateArray())
            {
                found |= JsonElement.DeepEquals(option, value);
            }

            if (!found)
            {
                return $"{path}: not one of the allowed values";
            }
        }

        if (schema.TryGetProperty("const", out var constant) && !JsonElement.DeepEquals(constant, value))
        {
            return $"{path}: must be the constant value";
        }

        if (schema.TryGetProperty("allOf", out var allOf) && allOf.ValueKind == JsonValueKind.Array)
        {
            foreach (var part in allOf.EnumerateArray())
            {
                if (Check(value, part, root, path, depth + 1) is { } problem)
                {
                    return problem;
                }
            }
        }

        foreach (var keyword in (ReadOnlySpan<string>)["anyOf", "oneOf"])
        {
            if (schema.TryGetProperty(keyword, out var any) && any.ValueKind == JsonValueKind.Array)
            {
                var matches = 0;
                string? first = null;
                foreach (var part in any.EnumerateArray())
                {
                    var problem = Check(value, part, root, path, depth + 1);
                    matches += problem is null ? 1 : 0;
                    first ??= problem;
                }

                if (matches == 0 || (keyword == "oneOf" && matches > 1))
                {
                    return matches == 0 ? $"{path}: matches none of {keyword} ({first})" : $"{path}: matches more than one of oneOf";
                }
            }
        }

        return value.ValueKind switch
        {
            JsonValueKind.Object => CheckObject(value, schema, root, path, depth),
            JsonValueKind.Array => CheckArray(value, schema, root, path, depth),
            JsonValueKind.String => CheckString(value.GetString()!, schema, path),
            JsonValueKind.Number => CheckNumber(value.GetDouble(), schema, path),
            _ => null,
        };
    }

    private static string? CheckObject(JsonElement value, JsonElement schema, JsonElement root, string path, int depth)
    {
        schema.TryGetProperty("properties", out var properties);
        if (schema.TryGetProperty("required", out var required) && required.ValueKind == JsonValueKind.Array)
        {
            foreach (var name in required.EnumerateArray())
            {
                if (name.GetString() is { } n && !value.TryGetProperty(n, out _))
                {
                    return $"{path}.{n}: required property missing";
                }
            }
        }

        schema.TryGetProperty("additionalProperties", out var additional);
        foreach (var property in value.EnumerateObject())
        {
            var child = path + "." + property.Name;
            if (properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(property.Name, out var propertySchema))
            {
                if (Check(property.Value, propertySchema, root, child, depth + 1) is { } problem)
                {
                    return problem;
                }
            }
            else if (additional.ValueKind == JsonValueKind.False)
            {
                return $"{child}: property not allowed by the schema";
            }
            else if (additional.ValueKind == JsonValueKind.Object && Check(property.Value, additional, root, child, depth + 1) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    private static string? CheckArray(JsonElement value, JsonElement schema, JsonElement root, string path, int depth)
    {
        var count = value.GetArrayLength();
        if (schema.TryGetProperty("minItems", out var min) && min.TryGetInt32(out var minItems) && count < minItems)
        {
            return $"{path}: at least {minItems} items required, got {count}";
        }

        if (schema.TryGetProperty("maxItems", out var max) && max.TryGetInt32(out var maxItems) && count > maxItems)
        {
            return $"{path}: at most {maxItems} items allowed, got {count}";
        }

        if (schema.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Object)
        {
            var i = 0;
            foreach (var item in value.EnumerateArray())
            {
                if (Check(item, items, root, path + "[" + i.ToString(CultureInfo.InvariantCulture) + "]", depth + 1) is { } problem)
                {
                    return problem;
                }

                i++;
            }
        }

        return null;
    }

    private static string? CheckString(string value, JsonElement schema, string path)
    {
        if (schema.TryGetProperty("minLength", out var min) && min.TryGetInt32(out var minLength) && value.Length < minLength)
        {
            return $"{path}: shorter than {minLength} characters";
        }

        if (schema.TryGetProperty("maxLength", out var max) && max.TryGetInt32(out var maxLength) && value.Length > maxLength)
        {
            return $"{path}: longer than {maxLength} characters";
        }

        return null;
    }

    private static string? CheckNumber(double value, JsonElement schema, string path)
    {
        if (schema.TryGetProperty("minimum", out var min) && min.TryGetDouble(out var minimum) && value < minimum)
        {
            return $"{path}: below the minimum {minimum.ToString(CultureInfo.InvariantCulture)}";
        }

        if (schema.TryGetProperty("maximum", out var max) && max.TryGetDouble(out var maximum) && value > maximum)
        {
            return $"{path}: above the maximum {maximum.ToString(CultureInfo.InvariantCulture)}";
        }

        if (schema.TryGetProperty("exclusiveMinimum", out var emin) && emin.TryGetDouble(out var exclusiveMinimum) && value <= exclusiveMinimum)
        {
            return $"{path}: must be above {exclusiveMinimum.ToString(CultureInfo.InvariantCulture)}";
        }

        if (schema.TryGetProperty("exclusiveMaximum", out var emax) && emax.TryGetDouble(out var exclusiveMaximum) && value >= exclusiveMaximum)
        {
            return $"{path}: must be below {exclusiveMaximum.ToString(CultureInfo.InvariantCulture)}";
        }

        return null;
    }

    private static bool TypeMatches(JsonElement value, JsonElement type)
    {
        if (type.ValueKind == JsonValueKind.Array)
        {
            foreach (var one in type.EnumerateArray())
            {
                if (TypeMatches(value, one))
                {
                    return true;
                }
            }

            return false;
        }

        return type.GetString() switch
        {
            "object" => value.ValueKind == JsonValueKind.Object,
            "array" => value.ValueKind == JsonValueKind.Array,
            "string" => value.ValueKind == JsonValueKind.String,
            "number" => value.ValueKind == JsonValueKind.Number,
            "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var d) && Math.Floor(d) == d,
            "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
            "null" => value.ValueKind == JsonValueKind.Null,
            _ => true,
        };
    }

    private static JsonElement? Resolve(JsonElement root, string pointer)
    {
        if (!pointer.StartsWith("#/", StringComparison.Ordinal))
        {
            return null;
        }

        var current = root;
        foreach (var segment in pointer[2..].Split('/'))
        {
            var name = segment.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (current.ValueKind != JsonValueKind.Object || !current.TryGetProperty(name, out current))
            {
                return null;
            }
        }

        return current;
    }

    private static string Describe(JsonElement type) => type.ValueKind == JsonValueKind.Array
        ? string.Join(" or ", type.EnumerateArray().Select(static t => t.GetString()))
        : type.GetString() ?? "?";

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };
}
