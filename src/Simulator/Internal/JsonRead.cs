using System.Text.Json;

namespace Gateway.Grpc.Simulator.Internal;

/// <summary>Small typed readers over request JSON that explain what is wrong.</summary>
internal static class JsonRead
{
    public static bool Has(JsonElement obj, string name, out JsonElement value)
        => obj.TryGetProperty(name, out value) && value.ValueKind is not JsonValueKind.Null and not JsonValueKind.Undefined;

    public static string? String(JsonElement obj, string name)
        => obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>Reads an optional integer; sets <paramref name="error"/> when present but not an integer in range.</summary>
    public static int? Int(JsonElement obj, string name, int min, int max, ref string? error, string? path = null)
    {
        if (!Has(obj, name, out var value))
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) && number >= min && number <= max)
        {
            return (int)number;
        }

        error ??= $"Invalid '{path ?? name}': expected an integer between {min} and {max}, got {Describe(value)}.";
        return null;
    }

    public static long? Long(JsonElement obj, string name, ref string? error)
    {
        if (!Has(obj, name, out var value))
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number))
        {
            return number;
        }

        error ??= $"Invalid '{name}': expected an integer, got {Describe(value)}.";
        return null;
    }

    public static bool? Bool(JsonElement obj, string name, ref string? error)
    {
        if (!Has(obj, name, out var value))
        {
            return null;
        }

        if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            return value.GetBoolean();
        }

        error ??= $"Invalid '{name}': expected a boolean, got {Describe(value)}.";
        return null;
    }

    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
