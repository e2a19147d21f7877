using System.Net.Http.Headers;
using System.Text.Json;
using Gateway.Grpc.Adapters.Http;
using Gateway.Grpc.Adapters.Secrets;
using Gateway.V1;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Adapters.Gemini;

/// <summary>Google Gemini API (generativelanguage): generateContent, streamGenerateContent?alt=sse, embedContent, batchEmbedContents.</summary>
internal sealed class GeminiAdapter(ISecretResolver secrets, TimeProvider timeProvider, ILogger<GeminiAdapter> logger, HttpMessageHandler? handler = null, IHttpClientFactory? clients = null)
    : HttpProviderAdapter(ProviderNames.Gemini, secrets, timeProvider, logger, handler, clients), IEmbeddingsAdapter
{
    public async Task<EmbeddingsResponse> EmbedAsync(EmbeddingsCall call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var inputs = call.Request.Inputs;
        if (inputs.Count == 0)
        {
            throw new ProviderException(ProviderErrorKind.BadRequest, "input: at least one text is required.");
        }

        var settings = DeploymentSettings.For(Provider, call.Deployment);
        var model = ModelPath(call.Deployment);
        var batch = inputs.Count > 1;
        using var request = new HttpRequestMessage(HttpMethod.Post, settings.Endpoint(batch ? "batchEmbedContents" : "embedContent", OperationUrl))
        {
            // embedContent takes one EmbedContentRequest as the body; batchEmbedContents a list of them.
            Content = batch
                ? JsonWriting.Content((call.Request, model), static (w, s) =>
                {
                    w.WriteStartObject();
                    w.WriteStartArray("requests");
                    foreach (var input in s.Request.Inputs)
                    {
                        WriteEmbedRequest(w, s.model, input, s.Request);
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                })
                : JsonWriting.Content((call.Request, model), static (w, s) => WriteEmbedRequest(w, s.model, s.Request.Inputs[0], s.Request)),
        };
        AddHeaders(request, settings);
        using var timeouts = new CallTimeouts(cancellationToken, settings.Timeout, TimeProvider);
        using var response = await SendAsync(request, new ProviderCall(new CompletionRequest(), call.Deployment), timeouts, cancellationToken).ConfigureAwait(false);
        using var doc = await ReadJsonAsync(response, timeouts, cancellationToken).ConfigureAwait(false);
        try
        {
            var root = doc.RootElement;
            var vectors = new List<float[]>(inputs.Count);
            if (batch)
            {
                foreach (var embedding in root.GetProperty("embeddings").EnumerateArray())
                {
                    vectors.Add(Values(embedding));
                }
            }
            else
            {
                vectors.Add(Values(root.GetProperty("embedding")));
            }

            if (vectors.Count != inputs.Count)
            {
                throw new JsonException($"{vectors.Count} embeddings for {inputs.Count} inputs.");
            }

            var tokens = 0;
            foreach (var input in inputs)
            {
                tokens += TokenEstimator.CountText(input);
            }

            // The embed endpoints report no token usage.
            return new EmbeddingsResponse(vectors, call.Deployment.UpstreamModel, tokens) { Estimated = true };
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw Malformed(ex);
        }
    }

    private static void WriteEmbedRequest(Utf8JsonWriter w, string model, string text, EmbeddingsRequest request)
    {
        w.WriteStartObject();
        w.WriteString("model", model);
        w.WriteStartObject("content");
        w.WriteStartArray("parts");
        w.WriteStartObject();
        w.WriteString("text", text);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
        if (!string.IsNullOrEmpty(request.TaskType))
        {
            w.WriteString("taskType", request.TaskType);
        }

        if (request.Dimensions is { } dimensions)
        {
            w.WriteNumber("outputDimensionality", dimensions);
        }

        w.WriteEndObject();
    }

    private static float[] Values(JsonElement embedding)
    {
        var values = embedding.GetProperty("values");
        var vector = new float[values.GetArrayLength()];
        var i = 0;
        foreach (var v in values.EnumerateArray())
        {
            vector[i++] = v.GetSingle();
        }

        return vector;
    }

    /// <summary>"models/{model}"; an upstreamModel already written as models/... or tunedModels/... is kept.</summary>
    private static string ModelPath(DeploymentInfo deployment)
        => deployment.UpstreamModel.Contains('/', StringComparison.Ordinal) ? deployment.UpstreamModel : "models/" + deployment.UpstreamModel;

    /// <summary>"{base_url}/{api_version}/models/{model}:{operation}".</summary>
    private static string OperationUrl(DeploymentSettings settings, DeploymentInfo deployment, string operation)
        => $"{settings.BaseUrl}/{settings.Get("api_version")}/{ModelPath(deployment)}:{operation}";

    protected override HttpRequestMessage CreateRequest(ProviderCall call, DeploymentSettings settings, bool stream)
    {
        var jsonSchema = settings.Get("schema_mode") == "json_schema";
        var operation = stream ? "streamGenerateContent?alt=sse" : "generateContent";
        return new HttpRequestMessage(HttpMethod.Post, settings.Endpoint(operation, OperationUrl))
        {
            Content = JsonWriting.Content((call.Request, jsonSchema), static (w, s) => GeminiFormat.WriteRequest(w, s.Request, s.jsonSchema)),
        };
    }

    protected override void AddAuthentication(HttpRequestHeaders headers, string? apiKey)
    {
        if (apiKey is not null)
        {
            headers.TryAddWithoutValidation("x-goog-api-key", apiKey);
        }
    }

    protected override CompletionResponse ParseResponse(ProviderCall call, JsonElement root)
        => GeminiFormat.ParseResponse(root, call, Provider);

    protected override StreamTranslator CreateTranslator(ProviderCall call, DeploymentSettings settings)
        => new GeminiStreamTranslator(Provider, call.Request, StreamError);
}
