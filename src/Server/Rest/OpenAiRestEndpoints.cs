using System.Text.Json;
using Grpc.Core;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Pipeline;
using Gateway.Grpc.Server.Services;
using Gateway.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Rest;

/// <summary>Maps the OpenAI-compatible REST API onto the completion pipeline.</summary>
internal static class OpenAiRestExtensions
{
    /// <summary>
    /// Maps <c>POST /v1/chat/completions</c>, <c>GET /v1/models</c>, <c>GET /v1/models/{id}</c>,
    /// <c>POST /v1/embeddings</c> and OpenAI-shaped 404/405 answers for the rest of <c>/v1</c>
    /// (JSON-transcoded routes such as <c>/v1/gateway/models</c> and <c>/v1/admin/...</c> win
    /// over the catch-all: they are more specific).
    /// </summary>
    public static WebApplication MapOpenAiRest(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var services = app.Services;
        var endpoints = new OpenAiRestEndpoints(
            services.GetRequiredService<CompletionPipeline>(),
            services.GetRequiredService<ModelsQuery>(),
            services.GetRequiredService<EmbeddingsService>(),
            services.GetRequiredService<GatewayOptions>(),
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<Hosting.IdleMemoryTrimmer>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Grpc.Server.Rest.OpenAi"));
        app.MapPost(OpenAiRestEndpoints.ChatCompletionsPath, endpoints.ChatCompletionsAsync);
        app.MapGet(OpenAiRestEndpoints.ModelsPath, endpoints.ListModelsAsync);
        app.MapGet(OpenAiRestEndpoints.ModelsPath + "/{**id}", endpoints.GetModelAsync);
        app.MapPost(OpenAiRestEndpoints.EmbeddingsPath, endpoints.EmbeddingsAsync);
        // Lowest precedence: only what no other endpoint takes (wrong method or unknown path).
        app.Map("/v1/{**rest}", endpoints.UnknownAsync).WithOrder(int.MaxValue);
        return app;
    }
}

/// <summary>
/// The OpenAI REST endpoints: they read OpenAI's JSON (not proto JSON), describe the call as a
/// <see cref="CompletionCall"/> and call the same <see cref="CompletionPipeline"/> the gRPC
/// service calls; only the encoding differs. Errors use the one table in <see cref="RestErrorMapping"/>.
/// </summary>
internal sealed partial class OpenAiRestEndpoints(
    CompletionPipeline pipeline,
    ModelsQuery models,
    EmbeddingsService embeddings,
    GatewayOptions options,
    TimeProvider timeProvider,
    Hosting.IdleMemoryTrimmer trimmer,
    ILogger logger)
{
    public const string ChatCompletionsPath = "/v1/chat/completions";
    public const string ModelsPath = "/v1/models";
    public const string EmbeddingsPath = "/v1/embeddings";

    // JSON is larger than protobuf (and images travel as base64): by default a multiple of the gRPC limit.
    private readonly long _maxBodyBytes = options.RequestLimits.BodyBytes(options);

    public async Task ChatCompletionsAsync(HttpContext http)
    {
        var requestId = CallerHeaders.ResolveRequestId(http);
        var (body, bodyError) = await RestBody.ReadJsonAsync(http, _maxBodyBytes, maxPromptChars: options.RequestLimits.MaxPromptChars).ConfigureAwait(false);
        if (bodyError is not null)
        {
            // Refused at the door, before the pipeline: still traffic that may have grown the heap.
            trimmer.NoteActivity();
            await WriteErrorAsync(http, bodyError).ConfigureAwait(false);
            return;
        }

        ChatCompletionsRequest parsed;
        try
        {
            parsed = OpenAiRequestReader.ReadChatCompletions(body!.Value, options.RequestLimits);
        }
        catch (OpenAiRequestException ex)
        {
            trimmer.NoteActivity();
            await WriteErrorAsync(http, RestErrorMapping.BadRequest(ex.Message, ex.Param.Length > 0 ? ex.Param : null, "invalid_value")).ConfigureAwait(false);
            return;
        }

        var method = parsed.Stream ? "StreamComplete" : "Complete";
        using var deadline = RestDeadline.Create(http, timeProvider, out var timeoutError);
        if (timeoutError is not null)
        {
            await WriteErrorAsync(http, RestErrorMapping.BadRequest(timeoutError, code: "invalid_header")).ConfigureAwait(false);
            return;
        }

        var call = new CompletionCall
        {
            Http = http,
            Route = CompletionCall.RestRoute,
            ApiKey = CallerHeaders.ApiKey(http.Request),
            RequestId = requestId,
            Deadline = deadline.Deadline,
            CancellationToken = deadline.Token,
        };
        if (!parsed.Stream)
        {
            try
            {
                var response = await pipeline.CompleteAsync(parsed.Request, call).ConfigureAwait(false);
                await WriteJsonAsync(http, response, static (writer, r) => OpenAiResponseWriter.WriteCompletion(writer, r)).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                await FailAsync(http, method, requestId, deadline, ex, null).ConfigureAwait(false);
            }

            return;
        }

        using var events = new OpenAiSseWriter(http, parsed.IncludeUsage);
        try
        {
            await pipeline.StreamAsync(parsed.Request, events, call).ConfigureAwait(false);
            await events.CompleteAsync(requestId, call.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await FailAsync(http, method, requestId, deadline, ex, events).ConfigureAwait(false);
        }
    }

    public async Task ListModelsAsync(HttpContext http)
    {
        var response = await ListAsync(http).ConfigureAwait(false);
        if (response is null)
        {
            return;
        }

        await WriteJsonAsync(http, response, static (writer, r) =>
        {
            writer.WriteStartObject();
            writer.WriteString("object", "list");
            writer.WriteStartArray("data");
            foreach (var model in r.Models)
            {
                WriteModel(writer, model);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }).ConfigureAwait(false);
    }

    public async Task GetModelAsync(HttpContext http)
    {
        var id = http.Request.RouteValues["id"] as string ?? "";
        var response = await ListAsync(http).ConfigureAwait(false);
        if (response is null)
        {
            return;
        }

        foreach (var model in response.Models)
        {
            if (model.Id == id)
            {
                await WriteJsonAsync(http, model, static (writer, m) => WriteModel(writer, m)).ConfigureAwait(false);
                return;
            }
        }

        await WriteErrorAsync(http, RestErrorMapping.Create(StatusCode.NotFound, $"The model '{id}' does not exist; GET /v1/models lists the models you can use.", "model", "model_not_found")).ConfigureAwait(false);
    }

    public async Task EmbeddingsAsync(HttpContext http)
    {
        var requestId = CallerHeaders.ResolveRequestId(http);
        var (body, bodyError) = await RestBody.ReadJsonAsync(http, _maxBodyBytes).ConfigureAwait(false);
        if (bodyError is not null)
        {
            await WriteErrorAsync(http, bodyError).ConfigureAwait(false);
            return;
        }

        string model;
        var inputs = new List<string>();
        int? dimensions = null;
        string? user = null;
        var base64 = false;
        try
        {
            var root = body!.Value;
            if (root.ValueKind != JsonValueKind.Object)
            {
                await WriteErrorAsync(http, RestErrorMapping.BadRequest("The request body must be a JSON object.")).ConfigureAwait(false);
                return;
            }

            if (!root.TryGetProperty("model", out var m) || m.ValueKind != JsonValueKind.String || m.GetString()!.Length == 0)
            {
                await WriteErrorAsync(http, RestErrorMapping.BadRequest("model: is required and must be a string.", "model")).ConfigureAwait(false);
                return;
            }

            model = m.GetString()!;
            if (!root.TryGetProperty("input", out var input))
            {
                await WriteErrorAsync(http, RestErrorMapping.BadRequest("input: is required (a string or an array of strings).", "input")).ConfigureAwait(false);
                return;
            }

            if (input.ValueKind == JsonValueKind.String)
            {
                inputs.Add(input.GetString()!);
            }
            else if (input.ValueKind == JsonValueKind.Array && input.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            {
                inputs.AddRange(input.EnumerateArray().Select(e => e.GetString()!));
            }
            else
            {
                await WriteErrorAsync(http, RestErrorMapping.BadRequest("input: must be a string or an array of strings (token arrays are not supported).", "input")).ConfigureAwait(false);
                return;
            }

            if (root.TryGetProperty("dimensions", out var d))
            {
                if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out var dims) || dims < 1)
                {
                    await WriteErrorAsync(http, RestErrorMapping.BadRequest("dimensions: must be a positive integer.", "dimensions")).ConfigureAwait(false);
                    return;
                }

                dimensions = dims;
            }

            if (root.TryGetProperty("user", out var u) && u.ValueKind == JsonValueKind.String)
            {
                user = u.GetString();
            }

            if (root.TryGetProperty("encoding_format", out var f) && f.ValueKind == JsonValueKind.String)
            {
                if (f.GetString() is not ("base64" or "float"))
                {
                    await WriteErrorAsync(http, RestErrorMapping.BadRequest("encoding_format: must be \"float\" or \"base64\".", "encoding_format")).ConfigureAwait(false);
                    return;
                }

                base64 = f.GetString() == "base64";
            }
        }
        catch (InvalidOperationException)
        {
            // An escaped unpaired surrogate ("\ud800") is valid JSON but not text.
            await WriteErrorAsync(http, RestErrorMapping.BadRequest("The request body holds a string that is not valid Unicode (an unpaired surrogate escape such as \\ud800); send valid UTF-8 text.")).ConfigureAwait(false);
            return;
        }

        try
        {
            var (response, _) = await embeddings.EmbedAsync(CallerHeaders.ApiKey(http.Request), new Adapters.EmbeddingsRequest(inputs) { Dimensions = dimensions, User = user }, model, requestId, http.RequestAborted).ConfigureAwait(false);
            await WriteJsonAsync(http, (response, base64), static (writer, state) =>
            {
                writer.WriteStartObject();
                writer.WriteString("object", "list");
                writer.WriteStartArray("data");
                for (var i = 0; i < state.response.Embeddings.Count; i++)
                {
                    writer.WriteStartObject();
                    writer.WriteString("object", "embedding");
                    writer.WriteNumber("index", i);
                    var vector = state.response.Embeddings[i];
                    if (state.base64)
                    {
                        writer.WriteString("embedding", Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(vector.AsSpan())));
                    }
                    else
                    {
                        writer.WriteStartArray("embedding");
                        foreach (var value in vector)
                        {
                            writer.WriteNumberValue(value);
                        }

                        writer.WriteEndArray();
                    }

                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
                writer.WriteString("model", state.response.Model);
                writer.WriteStartObject("usage");
                writer.WriteNumber("prompt_tokens", state.response.InputTokens);
                writer.WriteNumber("total_tokens", state.response.InputTokens);
                writer.WriteEndObject();
                writer.WriteEndObject();
            }).ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            await WriteErrorAsync(http, RestErrorMapping.FromRpc(ex)).ConfigureAwait(false);
        }
    }

    public Task UnknownAsync(HttpContext http)
    {
        CallerHeaders.ResolveRequestId(http);
        var path = http.Request.Path.Value ?? "";
        var allowed = path switch
        {
            ChatCompletionsPath or EmbeddingsPath => "POST",
            ModelsPath => "GET",
            _ when path.StartsWith(ModelsPath + "/", StringComparison.Ordinal) => "GET",
            _ => null,
        };
        if (allowed is not null)
        {
            http.Response.Headers.Allow = allowed;
            return WriteErrorAsync(http, RestErrorMapping.BadRequest($"{http.Request.Method} is not allowed on {path}; use {allowed}.", code: "method_not_allowed") with { HttpStatus = StatusCodes.Status405MethodNotAllowed });
        }

        return WriteErrorAsync(http, RestErrorMapping.Create(StatusCode.NotFound, $"Unknown request URL: {http.Request.Method} {path}. The gateway serves POST {ChatCompletionsPath}, GET {ModelsPath}, GET {ModelsPath}/{{model}} and POST {EmbeddingsPath}.", code: "unknown_url"));
    }

    private async Task<ListModelsResponse?> ListAsync(HttpContext http)
    {
        var requestId = CallerHeaders.ResolveRequestId(http);
        using var deadline = RestDeadline.Create(http, timeProvider, out var timeoutError);
        if (timeoutError is not null)
        {
            await WriteErrorAsync(http, RestErrorMapping.BadRequest(timeoutError, code: "invalid_header")).ConfigureAwait(false);
            return null;
        }

        try
        {
            return await models.ListAsync(CallerHeaders.ApiKey(http.Request), deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await FailAsync(http, "ListModels", requestId, deadline, ex, null).ConfigureAwait(false);
            return null;
        }
    }

    private static void WriteModel(Utf8JsonWriter writer, Model model)
    {
        writer.WriteStartObject();
        writer.WriteString("id", model.Id);
        writer.WriteString("object", "model");
        // The gateway does not track when a model name was created.
        writer.WriteNumber("created", 0);
        writer.WriteString("owned_by", model.OwnedBy);
        writer.WriteEndObject();
    }

    private async Task FailAsync(HttpContext http, string method, string requestId, RestDeadline deadline, Exception exception, OpenAiSseWriter? events)
    {
        if (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; the pipeline saw its token cancelled. Nobody to tell.
            Log.ClientDisconnected(logger, method, requestId);
            return;
        }

        var error = RestErrorMapping.FromHandlerFailure(deadline.Exceeded, requestId, exception, out var unexpected);
        if (unexpected)
        {
            Log.HandlerError(logger, method, requestId, exception);
        }
        else if (exception is RpcException rpc)
        {
            Log.CallFailed(logger, method, requestId, rpc.StatusCode, rpc.Status.Detail);
        }

        try
        {
            if (events is { Started: true })
            {
                await events.FailAsync(error, http.RequestAborted).ConfigureAwait(false);
            }
            else if (!http.Response.HasStarted)
            {
                await RestErrorMapping.WriteOpenAiErrorAsync(http, error).ConfigureAwait(false);
            }
        }
        catch (Exception writeError) when (writeError is IOException or OperationCanceledException or InvalidOperationException)
        {
            Log.ErrorWriteFailed(logger, method, requestId, writeError);
        }
    }

    private static Task WriteErrorAsync(HttpContext http, RestError error) => RestErrorMapping.WriteOpenAiErrorAsync(http, error);

    private static async Task WriteJsonAsync<T>(HttpContext http, T value, Action<Utf8JsonWriter, T> write)
    {
        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        using (var writer = new Utf8JsonWriter(response.BodyWriter, RestJson.WriterOptions))
        {
            write(writer, value);
        }

        await response.BodyWriter.FlushAsync(http.RequestAborted).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(200, LogLevel.Debug, "REST call {Method} ({RequestId}) ended: the client disconnected.", EventName = "RestClientDisconnected")]
        public static partial void ClientDisconnected(ILogger logger, string method, string requestId);

        [LoggerMessage(201, LogLevel.Debug, "REST call {Method} ({RequestId}) failed with {StatusCode}: {Detail}", EventName = "RestCallFailed")]
        public static partial void CallFailed(ILogger logger, string method, string requestId, StatusCode statusCode, string detail);

        [LoggerMessage(202, LogLevel.Error, "Error in handler of REST call {Method} ({RequestId}).", EventName = "RestHandlerError")]
        public static partial void HandlerError(ILogger logger, string method, string requestId, Exception exception);

        [LoggerMessage(203, LogLevel.Debug, "Could not write the error of REST call {Method} ({RequestId}).", EventName = "RestErrorWriteFailed")]
        public static partial void ErrorWriteFailed(ILogger logger, string method, string requestId, Exception exception);
    }
}
