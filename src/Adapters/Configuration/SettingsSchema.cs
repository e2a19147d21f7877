namespace Gateway.Grpc.Adapters.Configuration;

internal enum SettingKind
{
    /// <summary>An absolute http(s) URL.</summary>
    Url,

    /// <summary>A secret reference, env:NAME or file:/path.</summary>
    Secret,

    /// <summary>A whole number &gt; 0.</summary>
    PositiveInt,

    /// <summary>true or false.</summary>
    Bool,

    /// <summary>Free text (non-empty).</summary>
    Text,

    /// <summary>One of <see cref="SettingSpec.Choices"/>.</summary>
    Choice,
}

internal sealed record SettingSpec(string Name, SettingKind Kind, bool Required, string? Default, string Description, params string[] Choices);

/// <summary>Every setting each provider reads, with its kind, default and meaning (docs/PROVIDERS.md mirrors this).</summary>
internal static class SettingsSchema
{
    public const string HeaderPrefix = "headers.";

    private static readonly SettingSpec Timeout = new("timeout_ms", SettingKind.PositiveInt, false, "600000", "Limit for a unary call, and for a stream's response headers.");
    private static readonly SettingSpec IdleTimeout = new("stream_idle_timeout_ms", SettingKind.PositiveInt, false, "300000", "Longest silence allowed between two stream events.");
    private static readonly SettingSpec Proxy = new("proxy_url", SettingKind.Url, false, null, "HTTP proxy for this deployment's requests; unset = the process's HTTP(S)_PROXY variables, if any.");
    private static readonly SettingSpec MaxTokensField = new("max_tokens_field", SettingKind.Choice, false, null, "Which request field carries max_tokens.", "max_completion_tokens", "max_tokens");

    private static readonly Dictionary<string, SettingSpec[]> ByProvider = new(StringComparer.Ordinal)
    {
        [ProviderNames.OpenAI] =
        [
            new("base_url", SettingKind.Url, false, "https://api.openai.com/v1", "API root; /chat/completions and /embeddings are appended."),
            new("api_key", SettingKind.Secret, true, null, "Bearer key."),
            new("organization", SettingKind.Text, false, null, "Sent as OpenAI-Organization."),
            new("project", SettingKind.Text, false, null, "Sent as OpenAI-Project."),
            MaxTokensField with { Default = "max_completion_tokens" },
            Timeout,
            IdleTimeout,
            Proxy,
        ],
        [ProviderNames.OpenAICompatible] =
        [
            new("base_url", SettingKind.Url, true, null, "API root including /v1, e.g. http://localhost:8000/v1 (vLLM) or http://localhost:11434/v1 (Ollama)."),
            new("api_key", SettingKind.Secret, false, null, "Bearer key, when the server wants one."),
            new("stream_usage", SettingKind.Bool, false, "true", "Send stream_options.include_usage; turn off for servers that reject it."),
            MaxTokensField with { Default = "max_tokens" },
            Timeout,
            IdleTimeout,
            Proxy,
        ],
        [ProviderNames.AzureOpenAI] =
        [
            new("base_url", SettingKind.Url, true, null, "Resource endpoint, e.g. https://my-resource.openai.azure.com."),
            new("api_key", SettingKind.Secret, true, null, "Sent as the api-key header."),
            new("deployment", SettingKind.Text, false, null, "Azure deployment name; defaults to upstreamModel."),
            new("api_version", SettingKind.Text, false, "2024-10-21", "The api-version query parameter."),
            MaxTokensField with { Default = "max_tokens" },
            Timeout,
            IdleTimeout,
            Proxy,
        ],
        [ProviderNames.Anthropic] =
        [
            new("base_url", SettingKind.Url, false, "https://api.anthropic.com", "API root; /v1/messages is appended."),
            new("api_key", SettingKind.Secret, true, null, "Sent as x-api-key."),
            new("anthropic_version", SettingKind.Text, false, "2023-06-01", "The anthropic-version header."),
            new("default_max_tokens", SettingKind.PositiveInt, false, "4096", "max_tokens when the request sets none (Anthropic requires it)."),
            Timeout,
            IdleTimeout,
            Proxy,
        ],
        [ProviderNames.Gemini] =
        [
            new("base_url", SettingKind.Url, false, "https://generativelanguage.googleapis.com", "API root; /{api_version}/models/{model}:... is appended."),
            new("api_key", SettingKind.Secret, true, null, "Sent as x-goog-api-key."),
            new("api_version", SettingKind.Text, false, "v1beta", "Path segment before /models."),
            new("schema_mode", SettingKind.Choice, false, "openapi", "openapi: parameters/responseSchema (OpenAPI subset, unsupported keywords dropped); json_schema: parametersJsonSchema/responseJsonSchema (plain JSON Schema, Gemini 2.5+).", "openapi", "json_schema"),
            Timeout,
            IdleTimeout,
            Proxy,
        ],
        [ProviderNames.Grpc] =
        [
            new("base_url", SettingKind.Url, true, null, "The upstream gateway.v1 server, e.g. http://10.0.0.5:50051 (h2c) or https://gw.internal:443."),
            new("api_key", SettingKind.Secret, false, null, "Sent as authorization: Bearer <key>."),
            new("forward_metadata", SettingKind.Bool, false, "false", "Forward the request's metadata map upstream (it is dropped by default)."),
            Timeout,
            IdleTimeout,
        ],
        [ProviderNames.Simulated] =
        [
            new("ttft_ms", SettingKind.Text, false, "0", "Time to first token."),
            new("tokens_per_second", SettingKind.Text, false, "0", "Pacing; 0 = as fast as possible."),
            new("output_tokens", SettingKind.Text, false, null, "Natural answer length."),
        ],
    };

    public static bool TryGet(string provider, out SettingSpec[] specs) => ByProvider.TryGetValue(provider, out specs!);

    /// <summary>Providers that accept <c>headers.&lt;name&gt;</c> settings.</summary>
    public static bool AcceptsHeaders(string provider) => provider != ProviderNames.Simulated;

    public static string? DefaultOf(string provider, string name)
    {
        if (ByProvider.TryGetValue(provider, out var specs))
        {
            foreach (var spec in specs)
            {
                if (spec.Name == name)
                {
                    return spec.Default;
                }
            }
        }

        return null;
    }
}
