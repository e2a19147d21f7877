using System.Net.Http.Headers;
using System.Text.Json;
using Gateway.Grpc.Adapters.Http;
using Gateway.Grpc.Adapters.Secrets;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Adapters.Anthropic;

/// <summary>Anthropic Messages API: <c>x-api-key</c>, <c>anthropic-version</c>, SSE with named events.</summary>
internal sealed class AnthropicAdapter(ISecretResolver secrets, TimeProvider timeProvider, ILogger<AnthropicAdapter> logger, HttpMessageHandler? handler = null, IHttpClientFactory? clients = null)
    : HttpProviderAdapter(ProviderNames.Anthropic, secrets, timeProvider, logger, handler, clients)
{
    protected override HttpRequestMessage CreateRequest(ProviderCall call, DeploymentSettings settings, bool stream)
    {
        var maxTokens = settings.GetInt("default_max_tokens", 4096);
        var request = new HttpRequestMessage(HttpMethod.Post, settings.Endpoint("v1/messages"))
        {
            Content = JsonWriting.Content((call, maxTokens, stream), static (w, s) => AnthropicFormat.WriteRequest(w, s.call.Request, s.call.Deployment.UpstreamModel, s.maxTokens, s.stream)),
        };
        request.Headers.TryAddWithoutValidation("anthropic-version", settings.Get("anthropic_version"));
        return request;
    }

    protected override void AddAuthentication(HttpRequestHeaders headers, string? apiKey)
    {
        if (apiKey is not null)
        {
            headers.TryAddWithoutValidation("x-api-key", apiKey);
        }
    }

    protected override Gateway.V1.CompletionResponse ParseResponse(ProviderCall call, JsonElement root)
        => AnthropicFormat.ParseResponse(root, call, Provider);

    protected override StreamTranslator CreateTranslator(ProviderCall call, DeploymentSettings settings)
        => new AnthropicStreamTranslator(call.Request, StreamError);
}
