using System.Globalization;
using Gateway.Grpc.Protocol.Compression;
using Gateway.Grpc.Protocol.Internal;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Protocol.Server.Internal;

/// <summary>
/// The server side of one call on Kestrel. Owns the call's cancellation (client abort +
/// deadline), response headers, message writes and the final status.
/// </summary>
internal sealed partial class HttpContextServerCallContext : ServerCallContext, IDisposable
{
    private readonly HttpContext _httpContext;
    private readonly GrpcServerOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _cts;
    private Metadata? _requestHeaders;
    private Metadata? _responseTrailers;
    private ITimer? _deadlineTimer;
    private SemaphoreSlim? _writeLock;
    private Task? _deadlineTask;
    private ICompressionProvider? _responseCompression;
    private int _writing;

    public HttpContextServerCallContext(HttpContext httpContext, GrpcServerOptions options, string method, ILogger logger)
    {
        _httpContext = httpContext;
        _options = options;
        _logger = logger;
        Method = method;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(httpContext.RequestAborted);
    }

    public override string Method { get; }

    public override string Host => _httpContext.Request.Host.Value ?? "";

    public override string Peer => FormatPeer(_httpContext.Connection);

    public override DateTime Deadline => _deadline;

    private DateTime _deadline = DateTime.MaxValue;

    public override Metadata RequestHeaders => _requestHeaders ??= ReadRequestHeaders();

    public override CancellationToken CancellationToken => _cts.Token;

    public override Metadata ResponseTrailers => _responseTrailers ??= new Metadata();

    public override Status Status { get; set; } = Status.DefaultSuccess;

    public override WriteOptions? WriteOptions { get; set; }

    public override bool LastRequestMessageCompressed => Decoder?.LastMessageCompressed ?? false;

    internal MessageDecoder? Decoder { get; private set; }

    /// <summary>True once the final status has been written (normally, or by the deadline).</summary>
    internal bool ResponseCompleted { get; private set; }

    internal bool DeadlineExceeded { get; private set; }

    public override HttpContext GetHttpContext() => _httpContext;

    /// <summary>
    /// Reads grpc-timeout and grpc-encoding. Throws RpcException (UNIMPLEMENTED) for a coding
    /// we cannot decode.
    /// </summary>
    public void Initialize(TimeProvider timeProvider)
    {
        var request = _httpContext.Request;
        var timeoutHeader = request.Headers[GrpcProtocolConstants.TimeoutHeader].ToString();
        if (timeoutHeader.Length > 0)
        {
            if (GrpcTimeout.TryParse(timeoutHeader, out var timeout))
            {
                // Timers cannot go past ~49 days; a longer timeout is no deadline in practice.
                if (timeout < TimeSpan.FromDays(30))
                {
                    _deadline = timeProvider.GetUtcNow().UtcDateTime + timeout;
                    _writeLock = new SemaphoreSlim(1, 1);
                    _deadlineTimer = timeProvider.CreateTimer(static s => ((HttpContextServerCallContext)s!).OnDeadline(), this, timeout, Timeout.InfiniteTimeSpan);
                }
            }
            else
            {
                Log.InvalidTimeout(_logger, timeoutHeader);
            }
        }

        ICompressionProvider? requestEncoding = null;
        var encodingName = request.Headers[GrpcProtocolConstants.MessageEncodingHeader].ToString();
        if (encodingName.Length > 0 && encodingName != GrpcProtocolConstants.IdentityEncoding)
        {
            requestEncoding = CompressionProviders.Find(_options.CompressionProviders, encodingName);
            if (requestEncoding is null)
            {
                _httpContext.Response.Headers[GrpcProtocolConstants.MessageAcceptEncodingHeader] = CompressionProviders.AcceptEncodingValue(_options.CompressionProviders);
                throw new RpcException(new Status(StatusCode.Unimplemented, $"Unsupported grpc-encoding value '{encodingName}'. Supported encodings: {CompressionProviders.AcceptEncodingValue(_options.CompressionProviders)}"));
            }
        }

        Decoder = new MessageDecoder(_options.MaxReceiveMessageSize, requestEncoding, encodingName.Length > 0 ? encodingName : null);
        if (_options.ResponseCompressionAlgorithm is { } algorithm)
        {
            TrySetResponseCompression(algorithm);
        }
    }

    public override bool TrySetResponseCompression(string encoding)
    {
        if (_httpContext.Response.HasStarted)
        {
            throw new InvalidOperationException("Response compression must be chosen before response headers are sent.");
        }

        var provider = CompressionProviders.Find(_options.CompressionProviders, encoding);
        if (provider is null || !ClientAccepts(encoding))
        {
            return false;
        }

        _responseCompression = provider;
        return true;
    }

    private bool ClientAccepts(string encoding)
    {
        foreach (var value in _httpContext.Request.Headers[GrpcProtocolConstants.MessageAcceptEncodingHeader])
        {
            if (value is null)
            {
                continue;
            }

            foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (part == encoding)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private Metadata ReadRequestHeaders()
    {
        var metadata = new Metadata();
        foreach (var header in _httpContext.Request.Headers)
        {
            MetadataCodec.AddHeader(metadata, header.Key, header.Value!);
        }

        return metadata;
    }

    public override async Task WriteResponseHeadersAsync(Metadata responseHeaders)
    {
        ArgumentNullException.ThrowIfNull(responseHeaders);
        if (_httpContext.Response.HasStarted)
        {
            throw new InvalidOperationException("Response headers can only be sent once per call.");
        }

        foreach (var entry in responseHeaders)
        {
            if (GrpcProtocolConstants.IsReservedHeader(entry.Key))
            {
                continue;
            }

            _httpContext.Response.Headers.Append(entry.Key, entry.IsBinary ? MetadataCodec.EncodeBinary(entry.ValueBytes) : entry.Value);
        }

        PrepareResponseHeaders();
        await _httpContext.Response.BodyWriter.FlushAsync(CancellationToken).ConfigureAwait(false);
    }

    private void PrepareResponseHeaders()
    {
        var response = _httpContext.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocolConstants.GrpcContentType;
        if (_responseCompression is not null)
        {
            response.Headers[GrpcProtocolConstants.MessageEncodingHeader] = _responseCompression.EncodingName;
        }

        response.Headers[GrpcProtocolConstants.MessageAcceptEncodingHeader] = CompressionProviders.AcceptEncodingValue(_options.CompressionProviders);
    }

    /// <summary>
    /// Writes one response message and flushes; the flush is the back-pressure (PROTOCOL
    /// "Streaming on Kestrel"). One write at a time; none after the status is sent.
    /// </summary>
    public async Task WriteMessageAsync<T>(T message, Marshaller<T> marshaller, WriteOptions? options, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _writing, 1) != 0)
        {
            throw new InvalidOperationException("Can't write the message because the previous write is in progress.");
        }

        var locked = false;
        try
        {
            if (_writeLock is not null)
            {
                await _writeLock.WaitAsync(CancellationToken).ConfigureAwait(false);
                locked = true;
            }

            if (ResponseCompleted)
            {
                throw new InvalidOperationException("Can't write the message because the call is complete.");
            }

            CancellationToken.ThrowIfCancellationRequested();
            PrepareResponseHeaders();
            // A null WriteOptions means default flags: compress with the call's coding.
            var noCompress = (options ?? WriteOptions) is { } writeOptions && (writeOptions.Flags & WriteFlags.NoCompress) != 0;
            var compression = noCompress ? null : _responseCompression;
            var writer = _httpContext.Response.BodyWriter;
            MessageFraming.WriteMessage(writer, message, marshaller, compression, _options.MaxSendMessageSize);
            var token = cancellationToken.CanBeCanceled ? cancellationToken : CancellationToken;
            var result = await writer.FlushAsync(token).ConfigureAwait(false);
            if (result.IsCanceled || result.IsCompleted)
            {
                CancellationToken.ThrowIfCancellationRequested();
                throw new OperationCanceledException("The response stream was closed.");
            }
        }
        finally
        {
            if (locked)
            {
                _writeLock!.Release();
            }

            Volatile.Write(ref _writing, 0);
        }
    }

    /// <summary>Writes the final status: as trailers, or Trailers-Only when nothing was sent yet.</summary>
    public async Task EndCallAsync(Status status, Metadata? trailers)
    {
        var locked = false;
        if (_writeLock is not null)
        {
            await _writeLock.WaitAsync().ConfigureAwait(false);
            locked = true;
        }

        try
        {
            if (ResponseCompleted)
            {
                return;
            }

            ResponseCompleted = true;
            WriteStatus(status, trailers);
        }
        finally
        {
            if (locked)
            {
                _writeLock!.Release();
            }
        }
    }

    private void WriteStatus(Status status, Metadata? trailers)
    {
        var response = _httpContext.Response;
        var code = ((int)status.StatusCode).ToString(CultureInfo.InvariantCulture);
        var message = string.IsNullOrEmpty(status.Detail) ? null : PercentEncoding.Encode(status.Detail);
        if (!response.HasStarted)
        {
            // Trailers-Only (PROTOCOL-HTTP2 "Responses"): one HEADERS frame with END_STREAM,
            // content-type included or grpc-go reports UNKNOWN.
            PrepareResponseHeaders();
            response.Headers[GrpcProtocolConstants.StatusTrailer] = code;
            if (message is not null)
            {
                response.Headers[GrpcProtocolConstants.MessageTrailer] = message;
            }

            if (trailers is not null)
            {
                foreach (var entry in trailers)
                {
                    if (!GrpcProtocolConstants.IsReservedHeader(entry.Key))
                    {
                        response.Headers.Append(entry.Key, entry.IsBinary ? MetadataCodec.EncodeBinary(entry.ValueBytes) : entry.Value);
                    }
                }
            }

            return;
        }

        if (!response.SupportsTrailers())
        {
            Log.TrailersNotSupported(_logger);
            return;
        }

        response.AppendTrailer(GrpcProtocolConstants.StatusTrailer, code);
        if (message is not null)
        {
            response.AppendTrailer(GrpcProtocolConstants.MessageTrailer, message);
        }

        if (trailers is not null)
        {
            foreach (var entry in trailers)
            {
                if (!GrpcProtocolConstants.IsReservedHeader(entry.Key))
                {
                    response.AppendTrailer(entry.Key, entry.IsBinary ? MetadataCodec.EncodeBinary(entry.ValueBytes) : entry.Value);
                }
            }
        }
    }

    private void OnDeadline()
    {
        DeadlineExceeded = true;
        _deadlineTask = DeadlineExceededAsync();
    }

    /// <summary>
    /// PROTOCOL-HTTP2 deadlines: cancel the handler, send DEADLINE_EXCEEDED, complete the
    /// response, then reset the stream so nothing more is written or read.
    /// </summary>
    private async Task DeadlineExceededAsync()
    {
        try
        {
            Log.DeadlineExceeded(_logger, Method);
            await _cts.CancelAsync().ConfigureAwait(false);
            await _writeLock!.WaitAsync().ConfigureAwait(false);
            try
            {
                if (ResponseCompleted)
                {
                    return;
                }

                ResponseCompleted = true;
                WriteStatus(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"), _responseTrailers);
                await _httpContext.Response.CompleteAsync().ConfigureAwait(false);
                // NO_ERROR after the final frame: tells the client to stop sending (RFC 9113 8.1).
                _httpContext.Features.Get<IHttpResetFeature>()?.Reset(0);
            }
            finally
            {
                _writeLock.Release();
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
            Log.DeadlineWriteFailed(_logger, ex);
        }
    }

    /// <summary>Waits for a deadline write started by the timer, so the request ends after it.</summary>
    public Task WaitForDeadlineWriteAsync()
    {
        _deadlineTimer?.Dispose();
        return _deadlineTask ?? Task.CompletedTask;
    }

    public void Dispose()
    {
        _deadlineTimer?.Dispose();
        _cts.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Invalid grpc-timeout header value '{Timeout}'; the call runs without a deadline.", EventName = "InvalidTimeoutIgnored")]
        public static partial void InvalidTimeout(ILogger logger, string timeout);

        [LoggerMessage(2, LogLevel.Debug, "Deadline exceeded for {Method}.", EventName = "DeadlineExceeded")]
        public static partial void DeadlineExceeded(ILogger logger, string method);

        [LoggerMessage(3, LogLevel.Debug, "Could not write the DEADLINE_EXCEEDED status.", EventName = "DeadlineWriteFailed")]
        public static partial void DeadlineWriteFailed(ILogger logger, Exception exception);

        [LoggerMessage(4, LogLevel.Warning, "The response does not support trailers; the call's status is lost.", EventName = "TrailersNotSupported")]
        public static partial void TrailersNotSupported(ILogger logger);
    }
}
