using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Simulator.Http.OpenAi;

/// <summary>
/// Azure OpenAI (<c>/openai/deployments/{deployment}/...?api-version=</c>): the OpenAI body, an
/// <c>api-key</c> header (or Entra <c>Authorization: Bearer</c>), Azure's error shape
/// <c>{"error":{"code","message"}}</c> and content-filter annotations.
/// </summary>
internal sealed class AzureOpenAiDialect : OpenAiDialect
{
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();

    public override string Api => "azure";

    public override ApiError? Authorize(HttpContext context, string? requiredKey)
    {
        var key = context.Request.Headers["api-key"].ToString();
        if (key.Length == 0)
        {
            var authorization = context.Request.Headers.Authorization.ToString();
            if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                key = authorization["Bearer ".Length..].Trim();
            }
        }

        if (key.Length == 0 || (requiredKey is not null && !string.Equals(key, requiredKey, StringComparison.Ordinal)))
        {
            return new ApiError(401, DefaultMessage(401, null), Code: "401");
        }

        return null;
    }

    /// <summary>Azure answers a request without api-version with 404 "Resource not found" (not 400).</summary>
    public override ApiError? CheckRequest(HttpContext context)
        => context.Request.Query["api-version"].ToString().Length == 0 ? new ApiError(404, "Resource not found", Code: "404") : null;

    public override void AddResponseHeaders(HttpExchange exchange)
    {
        var headers = exchange.Context.Response.Headers;
        var id = Guid.CreateVersion7().ToString();
        headers["apim-request-id"] = id;
        headers["x-request-id"] = id;
        headers["x-ms-region"] = "Simulated Region";
        headers["x-ratelimit-remaining-requests"] = "999";
        headers["x-ratelimit-remaining-tokens"] = "999000";
    }

    public override void WriteErrorBody(HttpExchange exchange, ApiError error)
    {
        var w = exchange.BeginJson();
        w.WriteStartObject();
        w.WriteStartObject("error");
        if (error.Status == 400)
        {
            // Validation errors keep the OpenAI shape on Azure.
            w.WriteString("message", error.Message);
            w.WriteString("type", "invalid_request_error");
            WriteNullable(w, "param", error.Param);
            WriteNullable(w, "code", error.Code is { Length: > 0 } c ? c : null);
        }
        else
        {
            w.WriteString("code", error.Code is { Length: > 0 } code ? code : error.Status switch
            {
                500 => "InternalServerError",
                503 => "ServiceUnavailable",
                _ => error.Status.ToString(CultureInfo.InvariantCulture),
            });
            w.WriteString("message", error.Message);
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    public override string DefaultMessage(int status, string? model) => status switch
    {
        401 => "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
        404 => "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
        429 => "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
        500 => "The server had an error processing your request. Sorry about that! You can retry your request, or contact us through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 if you keep seeing this error.",
        503 => "The service is temporarily unable to process your request. Please try again later.",
        _ => base.DefaultMessage(status, model),
    };

    protected override Task WriteStreamPreambleAsync(HttpExchange exchange)
    {
        // Azure's first event: prompt filter results with empty choices and blank id/model.
        var w = exchange.BeginJson();
        w.WriteStartObject();
        w.WriteStartArray("choices");
        w.WriteEndArray();
        w.WriteNumber("created", 0);
        w.WriteString("id", "");
        w.WriteString("model", "");
        w.WriteString("object", "");
        w.WriteStartArray("prompt_filter_results");
        w.WriteStartObject();
        w.WriteNumber("prompt_index", 0);
        WriteFilterResults(w);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        return exchange.SendEventAsync(null, malformable: false, EventEnd);
    }

    protected override void WriteCompletionExtras(Utf8JsonWriter w)
    {
        w.WriteStartArray("prompt_filter_results");
        w.WriteStartObject();
        w.WriteNumber("prompt_index", 0);
        WriteFilterResults(w);
        w.WriteEndObject();
        w.WriteEndArray();
    }

    protected override void WriteChoiceExtras(Utf8JsonWriter w) => WriteFilterResults(w);

    private static void WriteFilterResults(Utf8JsonWriter w)
    {
        w.WriteStartObject("content_filter_results");
        foreach (var category in (ReadOnlySpan<string>)["hate", "self_harm", "sexual", "violence"])
        {
            w.WriteStartObject(category);
            w.WriteBoolean("filtered", false);
            w.WriteString("severity", "safe");
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }
}
