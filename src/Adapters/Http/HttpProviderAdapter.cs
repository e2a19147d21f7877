using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Gateway.Grpc.Adapters.Secrets;
using Gateway.Grpc.Adapters.Streaming;
using Gateway.V1;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Adapters.Http;

/// <summary>
/// What every HTTP provider adapter shares: one pooled <see cref="HttpClient"/>, auth and extra
/// headers, timeouts, the unary JSON round trip, the SSE streaming loop, and the mapping of
/// transport failures and error responses to <see cref="ProviderException"/>.
/// </summary>
/// <remarks>
/// Streams are read with <see cref="HttpCompletionOption.ResponseHeadersRead"/> and the caller's
/// token; cancelling it (or abandoning the enumerator) disposes the response, and with
/// <see cref="SocketsHttpHandler.MaxResponseDrainSize"/> = 0 the connection is closed at once
/// instead of being drained, so the provider stops generating (and billing).
/// </remarks>
internal abstract partial class HttpProviderAdapter : IProviderAdapter, IDisposable
{
    private const int MaxErrorBodyBytes = 64 * 1024;

    private readonly HttpClient? _http;
    private readonly IHttpClientFactory? _clients;
    private readonly ILogger _logger;

    /// <summary>
    /// With <paramref name="clients"/>, each call takes the named client of its deployment
    /// (<see cref="UpstreamHttpClients.NameFor"/>) from the factory, so proxies, client certificates
    /// or extra handlers are configured per deployment through DI. Without it (tests, embedding),
    /// the adapter owns one client over <paramref name="handler"/> or <see cref="CreateHandler"/>.
    /// </summary>
    protected HttpProviderAdapter(string provider, ISecretResolver secrets, TimeProvider timeProvider, ILogger logger, HttpMessageHandler? handler, IHttpClientFactory? clients = null)
    {
        Provider = provider;
        Secrets = secrets;
        TimeProvider = timeProvider;
        _logger = logger;
        _clients = handler is null ? clients : null;
        if (_clients is null)
        {
            _http = new HttpClient(handler ?? CreateHandler(), disposeHandler: true) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        }
    }

    public string Provider { get; }

    /// <summary>A unary call's <see cref="ProviderCall.Timeout"/> caps its own timer (<see cref="CallTimeouts"/>).</summary>
    public bool EnforcesTimeout => true;

    protected ISecretResolver Secrets { get; }

    protected TimeProvider TimeProvider { get; }

    /// <summary>
    /// The handler each adapter owns: HTTP/2 when the server offers it over TLS, connections
    /// recycled every 5 minutes (DNS changes), no cookies, no redirects, compressed responses
    /// accepted, and no draining of abandoned responses.
    /// </summary>
    public static SocketsHttpHandler CreateHandler() => new()
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        EnableMultipleHttp2Connections = true,
        AutomaticDecompression = DecompressionMethods.GZip | DecompressionMethods.Deflate | DecompressionMethods.Brotli,
        UseCookies = false,
        AllowAutoRedirect = false,
        MaxResponseDrainSize = 0,
    };

    public async Task<CompletionResponse> CompleteAsync(ProviderCall call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var settings = DeploymentSettings.For(Provider, call.Deployment);
        using var request = CreateRequest(call, settings, stream: false);
        AddHeaders(request, settings);
        using var timeouts = new CallTimeouts(cancellationToken, call.TimeoutWithin(settings.Timeout), TimeProvider);
        using var response = await SendAsync(request, call, timeouts, cancellationToken).ConfigureAwait(false);
        using (var document = await ReadJsonAsync(response, timeouts, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                return ParseResponse(call, document.RootElement);
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
            {
                // GetString() on a number, a missing required property...: the body is not what the API documents.
                throw Malformed(ex);
            }
        }
    }

    public async IAsyncEnumerable<CompletionChunk> StreamAsync(ProviderCall call, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var settings = DeploymentSettings.For(Provider, call.Deployment);
        using var request = CreateRequest(call, settings, stream: true);
        AddHeaders(request, settings);
        using var timeouts = new CallTimeouts(cancellationToken, settings.Timeout, TimeProvider);
        using var response = await SendAsync(request, call, timeouts, cancellationToken).ConfigureAwait(false);
        await EnsureEventStreamAsync(response, timeouts, cancellationToken).ConfigureAwait(false);
        var body = await OpenBodyAsync(response, timeouts, cancellationToken).ConfigureAwait(false);
        await using var _ = body.ConfigureAwait(false);
        var sse = new SseReader(body);
        await using var __ = sse.ConfigureAwait(false);
        var translator = CreateTranslator(call, settings);
        var output = new List<CompletionChunk>(4);
        timeouts.Restart(settings.StreamIdleTimeout);
        while (true)
        {
            var more = await NextEventAsync(sse, timeouts, cancellationToken).ConfigureAwait(false);
            bool terminal;
            if (!more)
            {
                terminal = translator.OnEndOfStream(output);
                if (!terminal)
                {
                    Log.StreamInterrupted(_logger, Provider, call.Deployment.Name);
                    throw new ProviderException(ProviderErrorKind.StreamInterrupted, $"The {Provider} stream ended without its terminal event ({translator.TerminalEventName}).");
                }
            }
            else
            {
                timeouts.Restart(settings.StreamIdleTimeout);
                try
                {
                    terminal = translator.OnEvent(sse, output);
                }
                catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
                {
                    throw Malformed(ex);
                }
            }

            for (var i = 0; i < output.Count; i++)
            {
                yield return output[i];
            }

            output.Clear();
            if (terminal)
            {
                yield break;
            }
        }
    }

    public void Dispose() => _http?.Dispose();

    /// <summary>Builds the provider request (URL, body, provider headers except auth).</summary>
    protected abstract HttpRequestMessage CreateRequest(ProviderCall call, DeploymentSettings settings, bool stream);

    /// <summary>Adds credentials; called on every request with the secret resolved now.</summary>
    protected abstract void AddAuthentication(HttpRequestHeaders headers, string? apiKey);

    protected abstract CompletionResponse ParseResponse(ProviderCall call, JsonElement root);

    protected abstract StreamTranslator CreateTranslator(ProviderCall call, DeploymentSettings settings);

    /// <summary>Adds auth and the configured extra headers; resolves secrets now so rotation needs no restart.</summary>
    protected internal void AddHeaders(HttpRequestMessage request, DeploymentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(settings);
        var key = settings.ApiKey is { } reference ? DeploymentSettings.ResolveSecret(Secrets, reference, "api_key") : null;
        AddAuthentication(request.Headers, key);
        foreach (var header in settings.Headers)
        {
            request.Headers.Remove(header.Key);
            request.Headers.TryAddWithoutValidation(header.Key, DeploymentSettings.HeaderValue(Secrets, header));
        }
    }

    /// <summary>Sends and returns a 2xx response; anything else becomes the normalized error.</summary>
    protected async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, ProviderCall call, CallTimeouts timeouts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(timeouts);
        HttpResponseMessage response;
        try
        {
            // HTTP/2 when a TLS server offers it (ALPN), HTTP/1.1 otherwise (plaintext included).
            request.Version = HttpVersion.Version20;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionOrLower;
            var http = _http ?? _clients!.CreateClient(UpstreamHttpClients.NameFor(call.Deployment.Name));
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeouts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not ProviderException)
        {
            throw MapTransportFailure(ex, timeouts, cancellationToken, afterHeaders: false, streaming: false);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            byte[] body;
            try
            {
                body = await ReadBoundedAsync(response.Content, MaxErrorBodyBytes, timeouts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not ProviderException)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }

                body = [];
            }

            var error = UpstreamErrorClassifier.Create(Provider, (int)response.StatusCode, UpstreamErrorInfo.Parse(body), RetryAfter.FromHeaders(response.Headers, TimeProvider.GetUtcNow()));
            Log.UpstreamError(_logger, Provider, call.Deployment.Name, (int)response.StatusCode, error.KindName);
            throw error;
        }
    }

    /// <summary>The parsed JSON of an error event inside a stream, as the normalized exception.</summary>
    protected ProviderException StreamError(JsonElement root)
        => UpstreamErrorClassifier.Create(Provider, 0, UpstreamErrorInfo.From(root), null);

    /// <summary>
    /// Reads a unary JSON answer: invalid JSON is a malformed response; a read that breaks or
    /// times out is mapped like any transport failure; the caller's cancellation passes through.
    /// </summary>
    protected async Task<JsonDocument> ReadJsonAsync(HttpResponseMessage response, CallTimeouts timeouts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(timeouts);
        try
        {
            var body = await response.Content.ReadAsStreamAsync(timeouts.Token).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                return await JsonDocument.ParseAsync(body, default, timeouts.Token).ConfigureAwait(false);
            }
        }
        catch (JsonException ex)
        {
            throw Malformed(ex);
        }
        catch (Exception ex) when (ex is not ProviderException)
        {
            throw MapTransportFailure(ex, timeouts, cancellationToken, afterHeaders: true, streaming: false);
        }
    }

    protected ProviderException Malformed(Exception ex)
        => new(ProviderErrorKind.ServerError, $"{Provider} sent a malformed response: {ex.Message}", null, ex);

    private async Task EnsureEventStreamAsync(HttpResponseMessage response, CallTimeouts timeouts, CancellationToken cancellationToken)
    {
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (mediaType is null || mediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        // A server that ignored stream:true, or a proxy's page: report what it said.
        byte[] body;
        try
        {
            body = await ReadBoundedAsync(response.Content, MaxErrorBodyBytes, timeouts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            body = [];
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Our own timer fired while reading the unexpected body: a timeout, not the caller's cancellation.
            throw MapTransportFailure(ex, timeouts, cancellationToken, afterHeaders: true, streaming: false);
        }

        var info = UpstreamErrorInfo.Parse(body);
        throw new ProviderException(ProviderErrorKind.ServerError, $"{Provider} answered a streaming request with {mediaType} instead of text/event-stream" + (info.Message is { } m ? ": " + m : "."));
    }

    private async Task<Stream> OpenBodyAsync(HttpResponseMessage response, CallTimeouts timeouts, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadAsStreamAsync(timeouts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not ProviderException)
        {
            throw MapTransportFailure(ex, timeouts, cancellationToken, afterHeaders: true, streaming: true);
        }
    }

    private async ValueTask<bool> NextEventAsync(SseReader sse, CallTimeouts timeouts, CancellationToken cancellationToken)
    {
        try
        {
            return await sse.ReadAsync(timeouts.Token).ConfigureAwait(false);
        }
        catch (InvalidDataException ex)
        {
            throw Malformed(ex);
        }
        catch (Exception ex) when (ex is not ProviderException)
        {
            throw MapTransportFailure(ex, timeouts, cancellationToken, afterHeaders: true, streaming: true);
        }
    }

    /// <summary>
    /// Transport failures: the caller's cancellation passes through as <see cref="OperationCanceledException"/>;
    /// our timer is a timeout; before a response, a connection failure; mid-stream, an interrupted stream.
    /// </summary>
    private Exception MapTransportFailure(Exception ex, CallTimeouts timeouts, CancellationToken cancellationToken, bool afterHeaders, bool streaming)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ex as OperationCanceledException ?? new OperationCanceledException("The call was cancelled.", ex, cancellationToken);
        }

        if (timeouts.TimedOut && ex is OperationCanceledException)
        {
            return new ProviderException(ProviderErrorKind.Timeout, streaming && afterHeaders
                ? $"{Provider} sent nothing within the stream idle timeout."
                : $"{Provider} did not answer within the timeout.", null, ex);
        }

        if (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            var detail = ex is HttpRequestException { HttpRequestError: not HttpRequestError.Unknown } hre ? $"{hre.HttpRequestError}: {ex.Message}" : ex.Message;
            return streaming && afterHeaders
                ? new ProviderException(ProviderErrorKind.StreamInterrupted, $"The {Provider} stream broke before its terminal event: {detail}", null, ex)
                : new ProviderException(ProviderErrorKind.ConnectionFailure, $"Could not reach {Provider}: {detail}", null, ex);
        }

        return ex;
    }

    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[limit];
            var total = 0;
            while (total < limit)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                total += read;
            }

            return buffer.AsSpan(0, total).ToArray();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(200, LogLevel.Debug, "Upstream {Provider} deployment {Deployment} answered HTTP {Status}: {Kind}.", EventName = "UpstreamError")]
        public static partial void UpstreamError(ILogger logger, string provider, string deployment, int status, string kind);

        [LoggerMessage(201, LogLevel.Debug, "Upstream {Provider} deployment {Deployment}: the stream ended without its terminal event.", EventName = "StreamInterrupted")]
        public static partial void StreamInterrupted(ILogger logger, string provider, string deployment);
    }
}

/// <summary>
/// Turns one provider's stream events into gateway events. It appends to <c>output</c> and says
/// when the provider's terminal event arrived; only then may it append <c>usage</c> and
/// <c>finish</c> (finish last).
/// </summary>
internal abstract class StreamTranslator
{
    /// <summary>Named in the stream_interrupted message, e.g. "data: [DONE]".</summary>
    public abstract string TerminalEventName { get; }

    /// <summary>Handles one event; returns true after appending usage and finish for the terminal event.</summary>
    public abstract bool OnEvent(SseReader sse, List<CompletionChunk> output);

    /// <summary>The body ended cleanly. Returns true only when the provider's end marker had been seen.</summary>
    public virtual bool OnEndOfStream(List<CompletionChunk> output) => false;
}
