namespace Gateway.Grpc.Tokenizer.Internal;

/// <summary>
/// Model name to encoding, following tiktoken's <c>model_to_encoding.json</c> (npm 1.0.22) and its
/// prefix rules for dated snapshots and fine-tunes. A provider prefix ("openai/gpt-4o") and a
/// fine-tune prefix ("ft:gpt-4o-mini:org::id") are ignored. Legacy encodings (r50k, p50k, gpt2)
/// are not shipped, so their models map to nothing.
/// </summary>
internal static class ModelEncodings
{
    public const string O200kBase = "o200k_base";
    public const string Cl100kBase = "cl100k_base";

    // Longest/most specific prefixes first: "gpt-4o" must win over "gpt-4".
    private static readonly (string Prefix, string Encoding)[] Prefixes =
    [
        ("gpt-4o", O200kBase),
        ("chatgpt-4o", O200kBase),
        ("gpt-4.", O200kBase), // gpt-4.1, gpt-4.5
        ("gpt-5", O200kBase),
        ("gpt-oss", O200kBase), // o200k_harmony: the same ranks and pattern, more special tokens
        ("o1", O200kBase),
        ("o3", O200kBase),
        ("o4", O200kBase),
        ("gpt-4", Cl100kBase),
        ("gpt-3.5", Cl100kBase),
        ("gpt-35", Cl100kBase), // Azure OpenAI spelling
        ("text-embedding-3", Cl100kBase),
        ("text-embedding-ada-002", Cl100kBase),
        ("davinci-002", Cl100kBase),
        ("babbage-002", Cl100kBase),
    ];

    public static string? GetEncodingName(string model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var name = model.AsSpan().Trim();
        if (name.StartsWith("ft:", StringComparison.OrdinalIgnoreCase))
        {
            name = name[3..];
        }

        var slash = name.LastIndexOf('/');
        if (slash >= 0)
        {
            name = name[(slash + 1)..];
        }

        foreach (var (prefix, encoding) in Prefixes)
        {
            if (name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)
                && (name.Length == prefix.Length || prefix.EndsWith('.') || !char.IsAsciiLetterOrDigit(name[prefix.Length])))
            {
                return encoding;
            }
        }

        return null;
    }
}
