using Gateway.Grpc.Simulator.Http.Anthropic;
using Gateway.Grpc.Simulator.Http.Gemini;
using Gateway.Grpc.Simulator.Http.OpenAi;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Simulator.Http;

/// <summary>The provider routes: OpenAI, Azure OpenAI, Anthropic, Gemini.</summary>
internal static class ProviderEndpoints
{
    private static readonly OpenAiDialect OpenAi = new();
    private static readonly AzureOpenAiDialect Azure = new();
    private static readonly AnthropicDialect Anthropic = new();
    private static readonly GeminiDialect Gemini = new();

    public static void MapProviderEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var pipeline = endpoints.ServiceProvider.GetRequiredService<ProviderPipeline>();

        // OpenAI
        endpoints.MapPost("/v1/chat/completions", context => pipeline.HandleAsync(context, OpenAi, Operation.Chat, default));
        endpoints.MapPost("/v1/embeddings", context => pipeline.HandleAsync(context, OpenAi, Operation.Embed, default));

        // Model lists: one path, three providers; the credentials say whose client is asking.
        endpoints.MapGet("/v1/models", context => pipeline.HandleAsync(context, ModelListDialect(context.Request), Operation.Models, default));
        endpoints.MapGet("/v1/models/{id}", context =>
        {
            var id = (string)context.Request.RouteValues["id"]!;
            return pipeline.HandleAsync(context, ModelListDialect(context.Request), Operation.Models, new RouteInfo(id, null));
        });

        // Azure OpenAI
        endpoints.MapPost("/openai/deployments/{deployment}/chat/completions", context =>
            pipeline.HandleAsync(context, Azure, Operation.Chat, new RouteInfo((string?)context.Request.RouteValues["deployment"], null)));
        endpoints.MapPost("/openai/deployments/{deployment}/embeddings", context =>
            pipeline.HandleAsync(context, Azure, Operation.Embed, new RouteInfo((string?)context.Request.RouteValues["deployment"], null)));

        // Anthropic
        endpoints.MapPost("/v1/messages", context => pipeline.HandleAsync(context, Anthropic, Operation.Chat, default));

        // Gemini: /{version}/models/{model}:{method}
        foreach (var version in (string[])["v1beta", "v1", "v1alpha"])
        {
            endpoints.MapPost("/" + version + "/models/{*rest}", context => GeminiPostAsync(context, pipeline));
            if (version != "v1")
            {
                endpoints.MapGet("/" + version + "/models", context => pipeline.HandleAsync(context, Gemini, Operation.Models, default));
                endpoints.MapGet("/" + version + "/models/{*rest}", context =>
                    pipeline.HandleAsync(context, Gemini, Operation.Models, new RouteInfo((string?)context.Request.RouteValues["rest"], null)));
            }
        }
    }

    private static ProviderDialect ModelListDialect(HttpRequest request)
    {
        if (request.Headers.ContainsKey("anthropic-version") || request.Headers.ContainsKey("x-api-key"))
        {
            return Anthropic;
        }

        return request.Headers.ContainsKey("x-goog-api-key") || request.Query.ContainsKey("key") ? Gemini : OpenAi;
    }

    private static Task GeminiPostAsync(HttpContext context, ProviderPipeline pipeline)
    {
        var rest = (string?)context.Request.RouteValues["rest"] ?? "";
        var colon = rest.LastIndexOf(':');
        var model = colon > 0 ? rest[..colon] : rest;
        var method = colon > 0 ? rest[(colon + 1)..] : "";
        return method switch
        {
            "generateContent" => pipeline.HandleAsync(context, Gemini, Operation.Chat, new RouteInfo(model, false, method)),
            "streamGenerateContent" => pipeline.HandleAsync(context, Gemini, Operation.Chat, new RouteInfo(model, true, method)),
            "embedContent" or "batchEmbedContents" => pipeline.HandleAsync(context, Gemini, Operation.Embed, new RouteInfo(model, false, method)),
            _ => NotFoundAsync(context),
        };
    }

    /// <summary>Unknown routes answer like OpenAI does: 404 "Invalid URL (METHOD /path)".</summary>
    public static Task NotFoundAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        context.Response.ContentType = "application/json";
        var message = $"Invalid URL ({context.Request.Method} {context.Request.Path})";
        return context.Response.WriteAsync("{\"error\":{\"message\":\"" + System.Text.Json.JsonEncodedText.Encode(message) + "\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}");
    }
}
