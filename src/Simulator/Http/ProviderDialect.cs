using System.Text.Json;
using Gateway.Grpc.Simulator.Generation;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Simulator.Http;

/// <summary>An error to answer in the dialect's shape.</summary>
internal readonly record struct ApiError(int Status, string Message, string? Param = null, string? Code = null);

/// <summary>An embeddings request in neutral form.</summary>
internal sealed class EmbedRequest
{
    public string Model { get; set; } = "";

    public List<string> Inputs { get; } = [];

    public int? Dimensions { get; set; }

    /// <summary>OpenAI encoding_format base64.</summary>
    public bool Base64 { get; set; }

    public int InputTokens { get; set; }

    /// <summary>Gemini batchEmbedContents (vs embedContent).</summary>
    public bool Batch { get; set; }
}

/// <summary>What the route tells the dialect (Azure deployment, Gemini model and method).</summary>
internal readonly record struct RouteInfo(string? Model, bool? Stream, string? Method = null);

/// <summary>
/// One provider's wire format: how it authenticates, parses requests, shapes answers, streams
/// and reports errors. The pipeline drives it; faults and recording are common.
/// </summary>
internal abstract class ProviderDialect
{
    /// <summary>openai, azure, anthropic or gemini.</summary>
    public abstract string Api { get; }

    public abstract string StreamContentType { get; }

    /// <summary>Checks credentials; null when the request may proceed.</summary>
    public abstract ApiError? Authorize(HttpContext context, string? requiredKey);

    /// <summary>Provider-specific checks on the URL and headers before the body is parsed (Azure api-version, Anthropic version).</summary>
    public virtual ApiError? CheckRequest(HttpContext context) => null;

    /// <summary>Headers every response of this provider carries (request ids, rate-limit headers).</summary>
    public virtual void AddResponseHeaders(HttpExchange exchange)
    {
    }

    /// <summary>Buffers the provider's error body for <paramref name="error"/> in <see cref="HttpExchange.BeginJson"/>.</summary>
    public abstract void WriteErrorBody(HttpExchange exchange, ApiError error);

    /// <summary>The provider's usual error text for a status (used by injected faults).</summary>
    public abstract string DefaultMessage(int status, string? model);

    public abstract ApiError InvalidJson(string detail);

    public abstract SimRequest? ParseChat(JsonElement root, RouteInfo route, out ApiError? error);

    public abstract Task WriteChatAsync(HttpExchange exchange, SimRequest request, SimPlan plan);

    /// <summary>Sends the provider's in-stream error event; the stream then ends without its terminal events.</summary>
    public abstract Task WriteStreamErrorAsync(HttpExchange exchange, ApiError error);

    public virtual EmbedRequest? ParseEmbed(JsonElement root, RouteInfo route, out ApiError? error)
    {
        error = new ApiError(404, "Embeddings are not served on this route.");
        return null;
    }

    public virtual Task WriteEmbedAsync(HttpExchange exchange, EmbedRequest request) => Task.CompletedTask;

    /// <summary>Writes the model list (GET).</summary>
    public virtual Task WriteModelsAsync(HttpExchange exchange, IList<string> models, string? single) => Task.CompletedTask;
}
