using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Gateway.Grpc.Protocol.Compression;
using Gateway.Grpc.Protocol.Internal;

namespace Gateway.Grpc.Protocol.Client;

/// <summary>
/// One client call on SocketsHttpHandler: sends the request, validates response headers
/// (PROTOCOL-HTTP2 "Responses"), reads framed messages and takes the status from trailers.
/// </summary>
internal sealed partial class GrpcCall<TRequest, TResponse> : IGrpcCall<TResponse>, IAsyncStreamReader<TResponse>
{
    private static readonly MediaTypeHeaderValue GrpcContentTypeHeader = new(GrpcProtocolConstants.GrpcContentType);

    /// <summary>The longest due time a System.Threading timer accepts (0xFFFFFFFE ms).</summary>
    private static readonly TimeSpan MaxTimerDueTime = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly GrpcChannel _channel;
    private readonly Method<TRequest, TResponse> _method;
    private readonly CallOptions _options;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource<Metadata> _headersTcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ICompressionProvider? _requestCompression;
    private CancellationTokenRegistration _callerRegistration;
    private ITimer? _deadlineTimer;
    private volatile bool _deadlineExceeded;
    private Task? _responseTask;
    private HttpResponseMessage? _response;
    private PipeReader? _reader;
    private MessageDecoder? _decoder;
    private Status? _status;
    private Metadata? _trailers;
    private TResponse _current = default!;
    private StreamingRequestContent? _requestContent;
    private ClientStreamWriter? _requestStream;
    private int _disposed;

    public GrpcCall(GrpcChannel channel, Method<TRequest, TResponse> method, CallOptions options)
    {
        _channel = channel;
        _method = method;
        _options = options;
        if (options.WriteCompression is { } encoding && encoding != GrpcProtocolConstants.IdentityEncoding)
        {
            _requestCompression = CompressionProviders.Find(channel.Options.CompressionProviders, encoding)
                ?? throw new InvalidOperationException($"Unknown request compression '{encoding}'. Known: {channel.AcceptEncoding}.");
        }
    }

    public Task<Metadata> ResponseHeadersAsync => _headersTcs.Task;

    public IAsyncStreamReader<TResponse> ResponseStream => this;

    public IClientStreamWriter<TRequest> RequestStream => _requestStream ?? throw new InvalidOperationException("This call has no request stream.");

    public TResponse Current => _current;

    private CancellationToken CallToken => _cts.Token;

    public void StartUnary(TRequest request) => Start(new UnaryRequestContent(Frame(request)));

    public void StartServerStreaming(TRequest request) => Start(new UnaryRequestContent(Frame(request)));

    public void StartClientStreaming() => StartStreamingRequest();

    public void StartDuplexStreaming() => StartStreamingRequest();

    private void StartStreamingRequest()
    {
        _requestContent = new StreamingRequestContent();
        _requestStream = new ClientStreamWriter(this, _requestContent);
        Start(_requestContent);
    }

    private byte[] Frame(TRequest request)
    {
        var buffer = new ArrayBufferWriter<byte>();
        MessageFraming.WriteMessage(buffer, request, _method.RequestMarshaller, _requestCompression, _channel.Options.MaxSendMessageSize);
        return buffer.WrittenSpan.ToArray();
    }

    private void Start(HttpContent content)
    {
        if (_options.CancellationToken.CanBeCanceled)
        {
            _callerRegistration = _options.CancellationToken.UnsafeRegister(static s => ((GrpcCall<TRequest, TResponse>)s!).CancelCall(), this);
        }

        TimeSpan? timeout = null;
        if (_options.Deadline is { } deadline && deadline != DateTime.MaxValue)
        {
            var remaining = deadline.ToUniversalTime() - _channel.Options.TimeProvider.GetUtcNow().UtcDateTime;
            if (remaining <= TimeSpan.Zero)
            {
                // The deadline already passed: fail locally without sending (PROTOCOL-HTTP2 deadline rules).
                _deadlineExceeded = true;
                _status = new Status(StatusCode.DeadlineExceeded, "Deadline exceeded before the call started.");
                _headersTcs.TrySetException(new RpcException(_status.Value));
                _responseTask = Task.CompletedTask;
                content.Dispose();
                return;
            }

            timeout = remaining;
            // Timers cannot be due later than ~49.7 days; a deadline further out never fires
            // in practice, so it is only sent (the server applies it if it can).
            if (remaining <= MaxTimerDueTime)
            {
                _deadlineTimer = _channel.Options.TimeProvider.CreateTimer(static s => ((GrpcCall<TRequest, TResponse>)s!).OnDeadline(), this, remaining, Timeout.InfiniteTimeSpan);
            }
        }

        var request = new HttpRequestMessage(HttpMethod.Post, _channel.MethodUri(_method.FullName))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        content.Headers.ContentType = GrpcContentTypeHeader;
        var headers = request.Headers;
        headers.TryAddWithoutValidation("te", "trailers");
        headers.TryAddWithoutValidation("user-agent", _channel.Options.UserAgent);
        headers.TryAddWithoutValidation(GrpcProtocolConstants.MessageAcceptEncodingHeader, _channel.AcceptEncoding);
        if (_requestCompression is not null)
        {
            headers.TryAddWithoutValidation(GrpcProtocolConstants.MessageEncodingHeader, _requestCompression.EncodingName);
        }

        if (timeout is { } t)
        {
            headers.TryAddWithoutValidation(GrpcProtocolConstants.TimeoutHeader, GrpcTimeout.Format(t));
        }

        if (_options.Headers is { } metadata)
        {
            foreach (var entry in metadata)
            {
                // The transport owns these (content-type, te, grpc-timeout, grpc-encoding...):
                // a metadata entry must not duplicate or contradict them.
                if (GrpcProtocolConstants.IsReservedHeader(entry.Key))
                {
                    continue;
                }

                headers.TryAddWithoutValidation(entry.Key, entry.IsBinary ? MetadataCodec.EncodeBinary(entry.ValueBytes) : entry.Value);
            }
        }

        _responseTask = SendAsync(request);
    }

    private async Task SendAsync(HttpRequestMessage request)
    {
        try
        {
            var response = await _channel.Invoker.SendAsync(request, CallToken).ConfigureAwait(false);
            _response = response;
            var headerMetadata = new Metadata();
            MetadataCodec.AddHeaders(headerMetadata, response.Headers);

            // Trailers-Only: grpc-status in the headers wins over everything else.
            var headerStatus = TryGetStatus(response.Headers);
            if (headerStatus is { } status)
            {
                _trailers = headerMetadata;
                SetStatus(status);
                _headersTcs.TrySetResult(headerMetadata);
                // The call is over: stop the deadline timer and release the stream.
                Cleanup();
                response.Dispose();
                return;
            }

            if (response.Version < HttpVersion.Version20)
            {
                throw new RpcException(new Status(StatusCode.Internal, $"Bad gRPC response. Response protocol downgraded to HTTP/{response.Version.ToString(2)}."));
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new RpcException(new Status(MapHttpStatus(response.StatusCode), $"Bad gRPC response. HTTP status code: {(int)response.StatusCode}"));
            }

            var contentType = response.Content.Headers.ContentType?.MediaType;
            if (!GrpcProtocolConstants.IsGrpcContentType(contentType))
            {
                throw new RpcException(new Status(StatusCode.Internal, $"Bad gRPC response. Invalid content-type value: {contentType ?? "(none)"}"));
            }

            ICompressionProvider? encoding = null;
            string? encodingName = null;
            if (response.Headers.TryGetValues(GrpcProtocolConstants.MessageEncodingHeader, out var encodings))
            {
                encodingName = encodings.FirstOrDefault();
                if (encodingName is not null && encodingName != GrpcProtocolConstants.IdentityEncoding)
                {
                    encoding = CompressionProviders.Find(_channel.Options.CompressionProviders, encodingName)
                        ?? throw new RpcException(new Status(StatusCode.Internal, $"Server used unsupported grpc-encoding '{encodingName}'."));
                }
            }

            _decoder = new MessageDecoder(_channel.Options.MaxReceiveMessageSize, encoding, encodingName);
            var stream = await response.Content.ReadAsStreamAsync(CallToken).ConfigureAwait(false);
            _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4096, leaveOpen: true));
            _headersTcs.TrySetResult(headerMetadata);
        }
        catch (Exception ex)
        {
            var rpc = ToRpcException(ex);
            SetStatus(rpc.Status);
            _headersTcs.TrySetException(rpc);
            Cleanup();
        }
    }

    public async Task<TResponse> GetUnaryResponseAsync()
    {
        if (!await MoveNextCoreAsync(CancellationToken.None).ConfigureAwait(false))
        {
            var status = _status ?? new Status(StatusCode.Internal, "Call ended without a status.");
            if (status.StatusCode == StatusCode.OK)
            {
                status = new Status(StatusCode.Internal, "Failed to deserialize response message: the server sent no message.");
                SetStatus(status, force: true);
            }

            throw new RpcException(status, GetTrailers());
        }

        var response = _current;
        if (await MoveNextCoreAsync(CancellationToken.None).ConfigureAwait(false))
        {
            var status = new Status(StatusCode.Internal, "Unary call returned more than one response message.");
            SetStatus(status, force: true);
            CancelCall();
            throw new RpcException(status);
        }

        if (_status is { StatusCode: not StatusCode.OK } failed)
        {
            throw new RpcException(failed, GetTrailers());
        }

        return response;
    }

    public async Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((GrpcCall<TRequest, TResponse>)s!).CancelCall(), this)
            : default;
        if (await MoveNextCoreAsync(cancellationToken).ConfigureAwait(false))
        {
            return true;
        }

        if (_status is { StatusCode: not StatusCode.OK } status)
        {
            throw new RpcException(status, GetTrailers());
        }

        return false;
    }

    /// <summary>Reads the next message; false at the end of the response (status then set).</summary>
    private async Task<bool> MoveNextCoreAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _responseTask!.ConfigureAwait(false);
            if (_reader is null || _status is not null)
            {
                if (_status is { StatusCode: not StatusCode.OK } early)
                {
                    throw new RpcException(early, GetTrailers());
                }

                return false;
            }

            while (true)
            {
                var result = await _reader.ReadAsync(CallToken).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (MessageFraming.TryReadMessage(ref buffer, _decoder!.MaxReceiveMessageSize, out var compressed, out var payload))
                {
                    try
                    {
                        _current = _decoder.Decode(payload, compressed, _method.ResponseMarshaller);
                    }
                    finally
                    {
                        _reader.AdvanceTo(buffer.Start);
                    }

                    return true;
                }

                if (result.IsCompleted)
                {
                    var incomplete = !buffer.IsEmpty;
                    _reader.AdvanceTo(buffer.End);
                    if (incomplete)
                    {
                        throw new RpcException(new Status(StatusCode.Internal, "Incomplete message."));
                    }

                    FinishFromTrailers();
                    return false;
                }

                _reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (Exception ex) when (ex is not RpcException || _status is null)
        {
            var rpc = ToRpcException(ex);
            if (rpc.StatusCode is StatusCode.ResourceExhausted or StatusCode.Internal)
            {
                // A protocol problem on our side of the call: stop the stream.
                CancelCall();
            }

            SetStatus(rpc.Status);
            Cleanup();
            throw new RpcException(_status!.Value, GetTrailers());
        }
    }

    private void FinishFromTrailers()
    {
        var trailers = _response!.TrailingHeaders;
        var status = TryGetStatus(trailers) ?? TryGetStatus(_response.Headers)
            ?? new Status(StatusCode.Cancelled, "No grpc-status found on response.");
        var metadata = new Metadata();
        MetadataCodec.AddHeaders(metadata, trailers);
        _trailers = metadata;
        SetStatus(status);
        Cleanup();
    }

    private static Status? TryGetStatus(HttpHeaders headers)
    {
        if (!headers.TryGetValues(GrpcProtocolConstants.StatusTrailer, out var values))
        {
            return null;
        }

        var text = values.FirstOrDefault();
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var code))
        {
            return new Status(StatusCode.Unknown, $"Unexpected grpc-status value '{text}'.");
        }

        var message = headers.TryGetValues(GrpcProtocolConstants.MessageTrailer, out var messages)
            ? PercentEncoding.Decode(messages.FirstOrDefault() ?? "")
            : "";
        return new Status((StatusCode)code, message);
    }

    /// <summary>PROTOCOL-HTTP2 / http-grpc-status-mapping.md: only when grpc-status is absent.</summary>
    internal static StatusCode MapHttpStatus(HttpStatusCode code) => (int)code switch
    {
        400 or 431 => StatusCode.Internal,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.Unimplemented,
        429 or 502 or 503 or 504 => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };

    private RpcException ToRpcException(Exception ex)
    {
        if (_deadlineExceeded)
        {
            return new RpcException(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"));
        }

        switch (ex)
        {
            case RpcException rpc:
                return rpc;
            case OperationCanceledException:
                return new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client."));
        }

        if (FindHttpProtocolError(ex) is { } protocolError)
        {
            // RST_STREAM error code -> status (PROTOCOL-HTTP2 "Errors").
            var code = protocolError.ErrorCode switch
            {
                0x7 => StatusCode.Unavailable,
                0x8 => StatusCode.Cancelled,
                0xb => StatusCode.ResourceExhausted,
                0xc => StatusCode.PermissionDenied,
                _ => StatusCode.Internal,
            };
            return new RpcException(new Status(code, $"HTTP/2 stream reset by the server (error code 0x{protocolError.ErrorCode:x})."));
        }

        if (_cts.IsCancellationRequested)
        {
            return new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client."));
        }

        if (ex is HttpRequestException or IOException)
        {
            return new RpcException(new Status(StatusCode.Unavailable, $"Error connecting to or reading from the server: {ex.Message}"), new Metadata(), ex);
        }

        return new RpcException(new Status(StatusCode.Internal, $"Error in the gRPC call: {ex.GetType().Name}: {ex.Message}"), new Metadata(), ex);
    }

    private static HttpProtocolException? FindHttpProtocolError(Exception? ex)
    {
        while (ex is not null)
        {
            if (ex is HttpProtocolException protocol)
            {
                return protocol;
            }

            ex = ex.InnerException;
        }

        return null;
    }

    private void SetStatus(Status status, bool force = false)
    {
        if (_status is null || force)
        {
            _status = status;
        }
    }

    public Status GetStatus() => _status ?? throw new InvalidOperationException("Unable to get the status because the call is not complete.");

    public Metadata GetTrailers() => _trailers ?? new Metadata();

    private void OnDeadline()
    {
        _deadlineExceeded = true;
        SetStatus(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"));
        CancelCall();
    }

    private void CancelCall()
    {
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        _requestContent?.Abort();
        // Disposing the response is what makes SocketsHttpHandler send RST_STREAM (CANCEL).
        _response?.Dispose();
    }

    private void Cleanup()
    {
        _deadlineTimer?.Dispose();
        _callerRegistration.Dispose();
        _requestContent?.Abort();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_status is null)
        {
            SetStatus(new Status(StatusCode.Cancelled, "gRPC call disposed."));
            CancelCall();
        }
        else
        {
            _response?.Dispose();
        }

        _headersTcs.TrySetException(new RpcException(_status!.Value));
        _ = _headersTcs.Task.Exception;
        Cleanup();
    }

    private sealed class UnaryRequestContent(byte[] framed) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
            => await stream.WriteAsync(framed, cancellationToken).ConfigureAwait(false);

        protected override bool TryComputeLength(out long length)
        {
            // gRPC messages are length-prefixed; no Content-Length (PROTOCOL-HTTP2 leaves it out).
            length = 0;
            return false;
        }
    }

    /// <summary>
    /// Request body for client-streaming and duplex calls: flushes at once so HEADERS go out,
    /// then stays open while the application writes; returning half-closes the request.
    /// </summary>
    private sealed class StreamingRequestContent : HttpContent
    {
        private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _complete = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<Stream> StreamTask => _stream.Task;

        public void Complete() => _complete.TrySetResult();

        public void Abort()
        {
            _stream.TrySetCanceled();
            _complete.TrySetCanceled();
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            _stream.TrySetResult(stream);
            await _complete.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    private sealed class ClientStreamWriter(GrpcCall<TRequest, TResponse> call, StreamingRequestContent content) : IClientStreamWriter<TRequest>
    {
        private int _writing;
        private bool _completed;

        public WriteOptions? WriteOptions { get; set; }

        public async Task WriteAsync(TRequest message, CancellationToken cancellationToken = default)
        {
            if (_completed)
            {
                throw new InvalidOperationException("Request stream has already been completed.");
            }

            if (call._status is { } status)
            {
                throw status.StatusCode == StatusCode.OK
                    ? new InvalidOperationException("Can't write the message because the call is complete.")
                    : new RpcException(status, call.GetTrailers());
            }

            if (Interlocked.Exchange(ref _writing, 1) != 0)
            {
                throw new InvalidOperationException("Can't write the message because the previous write is in progress.");
            }

            try
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, call.CallToken);
                var stream = await content.StreamTask.WaitAsync(linked.Token).ConfigureAwait(false);
                // A null WriteOptions means default flags: compress with the call's coding.
                var noCompress = WriteOptions is { } writeOptions && (writeOptions.Flags & WriteFlags.NoCompress) != 0;
                var compression = noCompress ? null : call._requestCompression;
                var buffer = new ArrayBufferWriter<byte>();
                MessageFraming.WriteMessage(buffer, message, call._method.RequestMarshaller, compression, call._channel.Options.MaxSendMessageSize);
                await stream.WriteAsync(buffer.WrittenMemory, linked.Token).ConfigureAwait(false);
                await stream.FlushAsync(linked.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not RpcException and not InvalidOperationException)
            {
                throw call.ToRpcException(ex);
            }
            finally
            {
                Volatile.Write(ref _writing, 0);
            }
        }

        public Task CompleteAsync()
        {
            _completed = true;
            content.Complete();
            return Task.CompletedTask;
        }
    }
}
