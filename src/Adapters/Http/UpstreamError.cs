using System.Text;
using System.Text.Json;

namespace Gateway.Grpc.Adapters.Http;

/// <summary>
/// What an upstream error body says, read from any of the shapes providers use:
/// OpenAI / Azure / Groq <c>{"error":{"message","type","code","param","innererror"}}</c>,
/// Anthropic <c>{"type":"error","error":{"type","message"}}</c>,
/// Google <c>{"error":{"code","message","status","details":[...]}}</c>,
/// vLLM / Mistral <c>{"object":"error","message","type","code"}</c>,
/// and the loose <c>{"error":"text"}</c>, <c>{"detail":"text"}</c>, <c>{"message":"text"}</c>.
/// </summary>
internal sealed record UpstreamErrorInfo(string? Type, string? Code, string? Message, TimeSpan? RetryDelay)
{
    public static readonly UpstreamErrorInfo Empty = new(null, null, null, null);

    public static UpstreamErrorInfo Parse(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
        {
            return Empty;
        }

        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            return From(doc.RootElement);
        }
        catch (JsonException)
        {
            // An HTML error page from a proxy, or plain text.
            var text = Encoding.UTF8.GetString(body.Length > 300 ? body[..300] : body).Trim();
            return new UpstreamErrorInfo(null, null, text.Length == 0 ? null : text, null);
        }
    }

    public static UpstreamErrorInfo From(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return Empty;
        }

        var source = root;
        if (root.TryGetProperty("error", out var error))
        {
            if (error.ValueKind == JsonValueKind.String)
            {
                return new UpstreamErrorInfo(null, null, error.GetString(), null);
            }

            if (error.ValueKind == JsonValueKind.Object)
            {
                source = error;
            }
        }

        var message = Text(source, "message") ?? Text(root, "detail") ?? Text(root, "message");
        // Google puts the canonical code name in "status"; everyone else in "type".
        var type = Text(source, "type") ?? Text(source, "status");
        var code = Text(source, "code");
        if (source.TryGetProperty("innererror", out var inner) && inner.ValueKind == JsonValueKind.Object && Text(inner, "code") is { } innerCode)
        {
            // Azure: {"code":"content_filter", "innererror":{"code":"ResponsibleAIPolicyViolation"}}.
            code = code is null ? innerCode : code + "/" + innerCode;
        }

        TimeSpan? retry = null;
        if (source.TryGetProperty("details", out var details) && details.ValueKind == JsonValueKind.Array)
        {
            foreach (var detail in details.EnumerateArray())
            {
                if (detail.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                if (Text(detail, "retryDelay") is { } delay)
                {
                    retry = RetryAfter.ParseDuration(delay);
                }

                // google.rpc.ErrorInfo {reason: "API_KEY_INVALID"}.
                if (Text(detail, "reason") is { } reason)
                {
                    code = code is null ? reason : code + "/" + reason;
                }
            }
        }

        return new UpstreamErrorInfo(type, code, message, retry);
    }

    private static string? Text(JsonElement obj, string name)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            _ => null,
        };
    }
}

/// <summary>Turns an HTTP status and an error body into exactly one normalized kind.</summary>
internal static class UpstreamErrorClassifier
{
    private const int MaxMessageLength = 600;

    /// <summary>Classifies an error. <paramref name="status"/> is 0 for an error event inside a 200 stream.</summary>
    public static ProviderErrorKind Classify(int status, UpstreamErrorInfo info)
    {
        var type = info.Type ?? "";
        var code = info.Code ?? "";
        var message = info.Message ?? "";

        if (status is 0 or 400 or 413 or 422 && IsContextLength(code, message))
        {
            return ProviderErrorKind.ContextLengthExceeded;
        }

        if (Has(code, "content_filter") || Has(code, "ResponsibleAIPolicyViolation") || Has(code, "content_policy_violation"))
        {
            return ProviderErrorKind.ContentFiltered;
        }

        if (status == 529 || Has(type, "overloaded") || ((status == 503 || Has(type, "UNAVAILABLE")) && Has(message, "overload")))
        {
            return ProviderErrorKind.Overloaded;
        }

        if (status == 429 || Has(type, "rate_limit") || Has(code, "rate_limit") || Has(type, "RESOURCE_EXHAUSTED") || Has(code, "insufficient_quota"))
        {
            return ProviderErrorKind.RateLimited;
        }

        if (status is 401 or 403 || Has(type, "authentication") || Has(type, "permission") || Has(type, "UNAUTHENTICATED")
            || Has(type, "PERMISSION_DENIED") || Has(code, "invalid_api_key") || Has(code, "API_KEY_INVALID") || Has(message, "API key not valid"))
        {
            return ProviderErrorKind.AuthFailure;
        }

        if (status == 404 || Has(type, "not_found") || Has(type, "NOT_FOUND") || Has(code, "model_not_found") || Has(code, "DeploymentNotFound"))
        {
            return ProviderErrorKind.ModelNotFound;
        }

        if (status is 408 or 504 || Has(type, "timeout") || Has(type, "DEADLINE_EXCEEDED"))
        {
            return ProviderErrorKind.Timeout;
        }

        if (status >= 500 || Has(type, "api_error") || Has(type, "server_error") || Has(type, "INTERNAL") || Has(type, "UNAVAILABLE"))
        {
            return ProviderErrorKind.ServerError;
        }

        if (status is >= 400 and < 500 || Has(type, "invalid_request") || Has(type, "INVALID_ARGUMENT") || Has(type, "FAILED_PRECONDITION"))
        {
            return ProviderErrorKind.BadRequest;
        }

        return ProviderErrorKind.ServerError;
    }

    /// <summary>The exception for an error, with a message that names the provider and never echoes the request.</summary>
    public static ProviderException Create(string provider, int status, UpstreamErrorInfo info, TimeSpan? headerRetryAfter)
    {
        var kind = Classify(status, info);
        var retryAfter = headerRetryAfter ?? info.RetryDelay ?? RetryAfter.FromMessage(info.Message);
        var sb = new StringBuilder(provider);
        sb.Append(status == 0 ? " sent an error event" : " returned HTTP " + status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var label = info.Type ?? info.Code;
        if (label is not null)
        {
            sb.Append(" (").Append(label).Append(')');
        }

        if (!string.IsNullOrEmpty(info.Message))
        {
            sb.Append(": ").Append(info.Message.Length > MaxMessageLength ? info.Message[..MaxMessageLength] + "..." : info.Message);
        }

        return new ProviderException(kind, sb.ToString(), retryAfter);
    }

    internal static bool IsContextLength(string code, string message)
        => Has(code, "context_length_exceeded")
        || Has(code, "string_above_max_length")
        || Has(message, "maximum context length")
        || Has(message, "context length")
        || Has(message, "context_length_exceeded")
        || Has(message, "context window")
        || Has(message, "prompt is too long")
        || Has(message, "input token count")
        || Has(message, "exceeds the maximum number of tokens")
        || Has(message, "too many tokens");

    private static bool Has(string haystack, string needle) => haystack.Contains(needle, StringComparison.OrdinalIgnoreCase);
}
