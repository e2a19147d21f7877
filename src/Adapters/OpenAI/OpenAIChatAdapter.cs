using System.Net.Http.Headers;
using System.Text.Json;
using Gateway.Grpc.Adapters.Http;
using Gateway.Grpc.Adapters.Secrets;
using Gateway.V1;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Adapters.OpenAI;

/// <summary>Which service speaks the Chat Completions format.</summary>
internal enum OpenAIFlavor
{
    /// <summary>api.openai.com: Bearer key, OpenAI-Organization / OpenAI-Project.</summary>
    OpenAI,

    /// <summary>vLLM, Ollama /v1, Together, Groq, Mistral...: configurable base URL, optional key, usage may be missing.</summary>
    Compatible,

    /// <summary>Azure OpenAI: /openai/deployments/{deployment}/...?api-version=, api-key header.</summary>
    Azure,
}

/// <summary>
/// Chat Completions and Embeddings for OpenAI, OpenAI-compatible servers and Azure OpenAI.
/// Streams always ask for <c>stream_options.include_usage</c> (OpenAI, Azure; optional for
/// compatible servers); when a stream carries no usage it is estimated (<c>estimated = true</c>).
/// </summary>
internal sealed class OpenAIChatAdapter : HttpProviderAdapter, IEmbeddingsAdapter
{
    private readonly OpenAIFlavor _flavor;

    public OpenAIChatAdapter(OpenAIFlavor flavor, ISecretResolver secrets, TimeProvider timeProvider, ILogger<OpenAIChatAdapter> logger, HttpMessageHandler? handler = null, IHttpClientFactory? clients = null)
        : base(NameOf(flavor), secrets, timeProvider, logger, handler, clients)
    {
        _flavor = flavor;
    }

    public static string NameOf(OpenAIFlavor flavor) => flavor switch
    {
        OpenAIFlavor.OpenAI => ProviderNames.OpenAI,
        OpenAIFlavor.Azure => ProviderNames.AzureOpenAI,
        _ => ProviderNames.OpenAICompatible,
    };

    public async Task<EmbeddingsResponse> EmbedAsync(EmbeddingsCall call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (call.Request.Inputs.Count == 0)
        {
            throw new ProviderException(ProviderErrorKind.BadRequest, "input: at least one text is required.");
        }

        var settings = DeploymentSettings.For(Provider, call.Deployment);
        using var request = new HttpRequestMessage(HttpMethod.Post, Url(settings, "embeddings"))
        {
            Content = JsonWriting.Content((call, _flavor), static (w, s) =>
            {
                var (c, flavor) = s;
                w.WriteStartObject();
                if (flavor != OpenAIFlavor.Azure)
                {
                    w.WriteString("model", c.Deployment.UpstreamModel);
                }

                w.WriteStartArray("input");
                foreach (var input in c.Request.Inputs)
                {
                    w.WriteStringValue(input);
                }

                w.WriteEndArray();
                w.WriteString("encoding_format", "float");
                if (c.Request.Dimensions is { } dimensions)
                {
                    w.WriteNumber("dimensions", dimensions);
                }

                if (!string.IsNullOrEmpty(c.Request.User))
                {
                    w.WriteString("user", c.Request.User);
                }

                w.WriteEndObject();
            }),
        };
        AddOpenAIHeaders(request, settings);
        AddHeaders(request, settings);
        using var timeouts = new CallTimeouts(cancellationToken, settings.Timeout, TimeProvider);
        var providerCall = new ProviderCall(new CompletionRequest(), call.Deployment);
        using var response = await SendAsync(request, providerCall, timeouts, cancellationToken).ConfigureAwait(false);
        using var doc = await ReadJsonAsync(response, timeouts, cancellationToken).ConfigureAwait(false);
        try
        {
            var root = doc.RootElement;
            var data = root.GetProperty("data");
            var vectors = new float[call.Request.Inputs.Count][];
            var position = 0;
            foreach (var item in data.EnumerateArray())
            {
                var index = item.TryGetProperty("index", out var i) ? i.GetInt32() : position;
                position++;
                if ((uint)index >= (uint)vectors.Length)
                {
                    throw new JsonException($"embedding index {index} is out of range.");
                }

                var embedding = item.GetProperty("embedding");
                var vector = new float[embedding.GetArrayLength()];
                var k = 0;
                foreach (var v in embedding.EnumerateArray())
                {
                    vector[k++] = v.GetSingle();
                }

                vectors[index] = vector;
            }

            for (var n = 0; n < vectors.Length; n++)
            {
                if (vectors[n] is null)
                {
                    throw new JsonException($"no embedding for input {n}.");
                }
            }

            var tokens = root.TryGetProperty("usage", out var usage) ? OpenAIChatFormat.IntOf(usage, "prompt_tokens") : 0;
            var estimated = false;
            if (tokens == 0)
            {
                foreach (var input in call.Request.Inputs)
                {
                    tokens += TokenEstimator.CountText(input);
                }

                estimated = true;
            }

            return new EmbeddingsResponse(vectors, OpenAIChatFormat.StringOf(root, "model") ?? call.Deployment.UpstreamModel, tokens) { Estimated = estimated };
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw Malformed(ex);
        }
    }

    protected override HttpRequestMessage CreateRequest(ProviderCall call, DeploymentSettings settings, bool stream)
    {
        var options = new OpenAIRequestOptions(
            _flavor == OpenAIFlavor.Azure ? null : call.Deployment.UpstreamModel,
            settings.Get("max_tokens_field") ?? "max_tokens",
            stream,
            _flavor != OpenAIFlavor.Compatible || settings.GetBool("stream_usage"));
        var request = new HttpRequestMessage(HttpMethod.Post, Url(settings, "chat/completions"))
        {
            Content = JsonWriting.Content((call.Request, options), static (w, s) => OpenAIChatFormat.WriteRequest(w, s.Request, s.options)),
        };
        AddOpenAIHeaders(request, settings);
        return request;
    }

    protected override void AddAuthentication(HttpRequestHeaders headers, string? apiKey)
    {
        if (apiKey is null)
        {
            return;
        }

        if (_flavor == OpenAIFlavor.Azure)
        {
            headers.TryAddWithoutValidation("api-key", apiKey);
        }
        else
        {
            headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
    }

    protected override CompletionResponse ParseResponse(ProviderCall call, JsonElement root)
        => OpenAIChatFormat.ParseResponse(root, call, Provider);

    protected override StreamTranslator CreateTranslator(ProviderCall call, DeploymentSettings settings)
        => new OpenAIStreamTranslator(call.Request, StreamError);

    private Uri Url(DeploymentSettings settings, string operation)
        => _flavor == OpenAIFlavor.Azure ? settings.Endpoint(operation, AzureUrl) : settings.Endpoint(operation);

    private static string AzureUrl(DeploymentSettings settings, DeploymentInfo deployment, string operation)
    {
        var name = settings.Get("deployment") is { Length: > 0 } d ? d : deployment.UpstreamModel;
        return $"{settings.BaseUrl}/openai/deployments/{Uri.EscapeDataString(name)}/{operation}?api-version={Uri.EscapeDataString(settings.Get("api_version")!)}";
    }

    private void AddOpenAIHeaders(HttpRequestMessage request, DeploymentSettings settings)
    {
        if (_flavor == OpenAIFlavor.OpenAI)
        {
            if (settings.Get("organization") is { Length: > 0 } org)
            {
                request.Headers.TryAddWithoutValidation("OpenAI-Organization", org);
            }

            if (settings.Get("project") is { Length: > 0 } project)
            {
                request.Headers.TryAddWithoutValidation("OpenAI-Project", project);
            }
        }
    }
}
