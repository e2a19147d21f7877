using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using Gateway.Grpc.Adapters.Http;
using Gateway.Grpc.Adapters.Secrets;
using Gateway.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Adapters.Grpc;

/// <summary>
/// An upstream that speaks gateway.v1 itself (another gateway, or a model server implementing
/// the contract). Requests go out with <c>model</c> set to the deployment's upstreamModel and
/// without our routing options (or metadata, unless forward_metadata is on); events pass
/// through except the upstream's <c>start</c> (the gateway sends its own). An upstream
/// <c>error</c> event, or an upstream gateway's <c>gateway-error-kind</c> trailer, keeps its
/// normalized kind; otherwise the gRPC status is mapped. One Grpc.Net.Client channel per
/// upstream address, shared by every deployment that points there.
/// </summary>
internal sealed partial class GrpcUpstreamAdapter(ISecretResolver secrets, TimeProvider timeProvider, ILogger<GrpcUpstreamAdapter> logger) : IProviderAdapter, IDisposable
{
    /// <summary>The trailers our own gateway sets on failures (see the server's ErrorMapping).</summary>
    internal const string ErrorKindTrailer = "gateway-error-kind";
    internal const string RetryAfterTrailer = "retry-after-ms";

    private readonly ConcurrentDictionary<string, (GrpcChannel Channel, CallInvoker Client)> _channels = new(StringComparer.Ordinal);

    public string Provider => ProviderNames.Grpc;

    /// <summary>A unary call's <see cref="ProviderCall.Timeout"/> caps its deadline.</summary>
    public bool EnforcesTimeout => true;

    public async Task<CompletionResponse> CompleteAsync(ProviderCall call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var settings = DeploymentSettings.For(Provider, call.Deployment);
        var client = Client(settings);
        // The deadline is the timeout (the attempt's, when shorter than timeout_ms): Grpc.Net.Client
        // enforces it and sends it upstream as grpc-timeout, so the upstream knows the budget and a
        // unary call needs no timer or linked token of its own.
        var deadline = timeProvider.GetUtcNow().UtcDateTime + call.TimeoutWithin(settings.Timeout);
        var options = new CallOptions(Headers(settings), deadline, cancellationToken);
        using var unary = client.AsyncUnaryCall(UpstreamRequest.Complete, null, options, Prepare(call, settings));
        try
        {
            var response = await unary.ResponseAsync.ConfigureAwait(false);
            response.Provider = Provider;
            response.Id = "";
            response.Routing = null;
            response.Created = 0;
            if (string.IsNullOrEmpty(response.Model))
            {
                response.Model = call.Deployment.UpstreamModel;
            }

            return response;
        }
        catch (RpcException ex)
        {
            throw Map(ex, ex.StatusCode == StatusCode.DeadlineExceeded && timeProvider.GetUtcNow().UtcDateTime >= deadline, cancellationToken, midStream: false);
        }
    }

    public async IAsyncEnumerable<CompletionChunk> StreamAsync(ProviderCall call, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        var settings = DeploymentSettings.For(Provider, call.Deployment);
        var client = Client(settings);
        using var timeouts = new CallTimeouts(cancellationToken, settings.Timeout, timeProvider);
        using var streaming = client.AsyncServerStreamingCall(UpstreamRequest.StreamComplete, null, new CallOptions(Headers(settings), null, timeouts.Token), Prepare(call, settings));
        var reader = streaming.ResponseStream;
        var received = false;
        while (true)
        {
            bool more;
            try
            {
                // No token here: the call already carries timeouts.Token (CallOptions), which
                // cancels the call and so the read; a token given to MoveNext would be linked with
                // the call's by Grpc.Net.Client, a linked source and two callbacks per message.
                more = await reader.MoveNext(CancellationToken.None).ConfigureAwait(false);
            }
            catch (RpcException ex)
            {
                throw Map(ex, timeouts.TimedOut, cancellationToken, midStream: received);
            }

            if (!more)
            {
                Log.StreamInterrupted(logger, call.Deployment.Name);
                throw new ProviderException(ProviderErrorKind.StreamInterrupted, "The gRPC upstream stream ended without a finish event.");
            }

            // From the first message on, a failure is mid-stream, and the idle timeout (restarted on
            // every message) replaces timeout_ms.
            received = true;
            timeouts.Restart(settings.StreamIdleTimeout);
            var chunk = reader.Current;
            switch (chunk.EventCase)
            {
                case CompletionChunk.EventOneofCase.Start:
                case CompletionChunk.EventOneofCase.None:
                    continue;
                case CompletionChunk.EventOneofCase.Error:
                    throw new ProviderException(KindFromName(chunk.Error.Kind) ?? KindFromStatus((StatusCode)chunk.Error.Code, chunk.Error.Message, midStream: true), "gRPC upstream: " + chunk.Error.Message);
                case CompletionChunk.EventOneofCase.Finish:
                    chunk.Finish.Routing = null;
                    yield return chunk;
                    yield break;
                default:
                    yield return chunk;
                    break;
            }
        }
    }

    public void Dispose()
    {
        foreach (var (channel, _) in _channels.Values)
        {
            channel.Dispose();
        }

        _channels.Clear();
    }

    private CallInvoker Client(DeploymentSettings settings)
        => _channels.GetOrAdd(settings.BaseUrl, static address =>
        {
            var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = CreateHandler(), DisposeHttpClient = true });
            return (channel, channel.CreateCallInvoker());
        }).Client;

    /// <summary>
    /// HTTP/2 with more connections once the server's stream limit is reached, and keep-alive
    /// pings every 5 minutes while calls are open (C-core and grpc-go servers answer faster
    /// pings with GOAWAY too_many_pings). No channel retries: dispatch retries and falls back,
    /// and a second layer would multiply the attempts. The handler's own propagator sends the
    /// current activity's traceparent, so the caller's trace reaches the upstream.
    /// </summary>
    private static SocketsHttpHandler CreateHandler() => new()
    {
        EnableMultipleHttp2Connections = true,
        PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        KeepAlivePingDelay = TimeSpan.FromMinutes(5),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        AutomaticDecompression = System.Net.DecompressionMethods.None,
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        ConnectTimeout = TimeSpan.FromSeconds(10),
    };

    private static UpstreamRequest Prepare(ProviderCall call, DeploymentSettings settings)
        => UpstreamRequest.For(call.Request, call.Deployment.UpstreamModel, settings.GetBool("forward_metadata"));

    /// <summary>The upstream request's headers; none (no collection made per call) when the deployment sets none.</summary>
    private Metadata? Headers(DeploymentSettings settings)
    {
        if (settings.ApiKey is null && settings.Headers.Count == 0)
        {
            return null;
        }

        var headers = new Metadata();
        if (settings.ApiKey is { } reference)
        {
            headers.Add("authorization", "Bearer " + DeploymentSettings.ResolveSecret(secrets, reference, "api_key"));
        }

        foreach (var header in settings.Headers)
        {
            headers.Add(header.Key.ToLowerInvariant(), DeploymentSettings.HeaderValue(secrets, header));
        }

        return headers;
    }

    private static Exception Map(RpcException ex, bool timedOut, CancellationToken cancellationToken, bool midStream)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return new OperationCanceledException("The call was cancelled.", ex, cancellationToken);
        }

        if (timedOut)
        {
            return new ProviderException(ProviderErrorKind.Timeout, midStream ? "The gRPC upstream sent nothing within the stream idle timeout." : "The gRPC upstream did not answer within the timeout.", null, ex);
        }

        TimeSpan? retryAfter = ex.Trailers.GetValue(RetryAfterTrailer) is { } ms && long.TryParse(ms, NumberStyles.None, CultureInfo.InvariantCulture, out var millis)
            ? TimeSpan.FromMilliseconds(millis)
            : null;
        // Grpc.Net.Client keeps the exception behind a status it made itself (transport
        // failure, reset, unparsable message) in Status.DebugException.
        var kind = KindFromName(ex.Trailers.GetValue(ErrorKindTrailer)) ?? KindFromStatus(ex.StatusCode, ex.Status.Detail, midStream, ex.Status.DebugException ?? ex.InnerException);
        return new ProviderException(kind, $"gRPC upstream returned {ex.StatusCode}: {ex.Status.Detail}", retryAfter, ex);
    }

    internal static ProviderErrorKind? KindFromName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        foreach (var kind in Enum.GetValues<ProviderErrorKind>())
        {
            if (ProviderException.KindToName(kind) == name)
            {
                return kind;
            }
        }

        return null;
    }

    internal static ProviderErrorKind KindFromStatus(StatusCode status, string detail, bool midStream, Exception? inner = null) => status switch
    {
        StatusCode.ResourceExhausted => ProviderErrorKind.RateLimited,
        StatusCode.DeadlineExceeded => ProviderErrorKind.Timeout,
        StatusCode.InvalidArgument or StatusCode.OutOfRange or StatusCode.FailedPrecondition
            => UpstreamErrorClassifier.IsContextLength("", detail) ? ProviderErrorKind.ContextLengthExceeded : ProviderErrorKind.BadRequest,
        StatusCode.Unauthenticated or StatusCode.PermissionDenied => ProviderErrorKind.AuthFailure,
        StatusCode.NotFound => ProviderErrorKind.ModelNotFound,
        // A message Grpc.Net.Client cannot parse (UNAVAILABLE with the parser's exception, an
        // IOException) is a broken upstream, not a broken connection.
        _ when inner is InvalidProtocolBufferException => ProviderErrorKind.ServerError,
        StatusCode.Unavailable when midStream => ProviderErrorKind.StreamInterrupted,
        // Grpc.Net.Client reports transport failures as Unavailable with the exception in
        // Status.DebugException: "Error connecting to subchannel." (SocketException; it connects
        // the sockets itself on a SocketsHttpHandler) or "Error starting gRPC call." (HttpRequestException).
        StatusCode.Unavailable when inner is HttpRequestException or IOException or System.Net.Sockets.SocketException => ProviderErrorKind.ConnectionFailure,
        StatusCode.Unavailable when detail.Contains("overload", StringComparison.OrdinalIgnoreCase) => ProviderErrorKind.Overloaded,
        StatusCode.Cancelled when midStream => ProviderErrorKind.StreamInterrupted,
        // A transport reset (RST_STREAM, not a status the upstream sent) after messages cut the
        // stream short: Grpc.Net.Client maps the HTTP/2 error code (INTERNAL_ERROR -> Internal,
        // PROTOCOL-HTTP2 "Errors") and keeps the HttpProtocolException (an IOException).
        StatusCode.Internal when midStream && inner is IOException => ProviderErrorKind.StreamInterrupted,
        _ => ProviderErrorKind.ServerError,
    };

    private static partial class Log
    {
        [LoggerMessage(210, LogLevel.Debug, "gRPC upstream deployment {Deployment}: the stream ended without a finish event.", EventName = "GrpcStreamInterrupted")]
        public static partial void StreamInterrupted(ILogger logger, string deployment);
    }
}
