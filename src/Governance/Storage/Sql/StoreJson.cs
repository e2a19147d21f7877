using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Grpc.Governance.Storage.Sql;

/// <summary>
/// The JSON columns of the SQL stores (allowed models, limits, metadata). Source-generated so the
/// stores need no reflection; camelCase to match the configuration and admin API spelling.
/// </summary>
internal static class StoreJson
{
    public static string Models(IReadOnlyList<string> models) => JsonSerializer.Serialize(models, StoreJsonContext.Default.IReadOnlyListString);

    public static string Limits(LimitSettings limits) => JsonSerializer.Serialize(limits, StoreJsonContext.Default.LimitSettings);

    public static string Metadata(IReadOnlyDictionary<string, string> metadata) => JsonSerializer.Serialize(metadata, StoreJsonContext.Default.IReadOnlyDictionaryStringString);

    public static string[] ReadModels(string json, string column) => Read(json, column, StoreJsonContext.Default.StringArray) ?? [];

    public static LimitSettings ReadLimits(string json, string column) => Read(json, column, StoreJsonContext.Default.LimitSettings) ?? new LimitSettings();

    public static Dictionary<string, string> ReadMetadata(string json, string column)
        => Read(json, column, StoreJsonContext.Default.DictionaryStringString) ?? new Dictionary<string, string>(StringComparer.Ordinal);

    private static T? Read<T>(string json, string column, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo)
    {
        try
        {
            return JsonSerializer.Deserialize(json, typeInfo);
        }
        catch (JsonException ex)
        {
            // A hand-edited row must name itself rather than fail with a bare parser error.
            throw new InvalidDataException($"Column '{column}' does not hold valid JSON for {typeof(T).Name}: {ex.Message}", ex);
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LimitSettings))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, string>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class StoreJsonContext : JsonSerializerContext;
