using Gateway.Grpc.Protocol.Internal;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Protocol.Server.Internal;

internal interface IServerCallHandler
{
    string FullName { get; }

    MethodType Type { get; }

    Task HandleCallAsync(HttpContext httpContext, GrpcServerOptions options, TimeProvider timeProvider, ILogger logger);

    /// <summary>Hands the method and its handler to a binder (REST / JSON transcoding).</summary>
    void Bind(ServiceBinderBase binder);
}

/// <summary>Runs one call of any RPC kind: read request(s), invoke the handler, end with a status.</summary>
internal sealed partial class ServerCallHandler<TRequest, TResponse> : IServerCallHandler
{
    private readonly Method<TRequest, TResponse> _method;
    private readonly UnaryServerMethod<TRequest, TResponse>? _unary;
    private readonly ServerStreamingServerMethod<TRequest, TResponse>? _serverStreaming;
    private readonly ClientStreamingServerMethod<TRequest, TResponse>? _clientStreaming;
    private readonly DuplexStreamingServerMethod<TRequest, TResponse>? _duplex;

    public ServerCallHandler(
        Method<TRequest, TResponse> method,
        UnaryServerMethod<TRequest, TResponse>? unary = null,
        ServerStreamingServerMethod<TRequest, TResponse>? serverStreaming = null,
        ClientStreamingServerMethod<TRequest, TResponse>? clientStreaming = null,
        DuplexStreamingServerMethod<TRequest, TResponse>? duplex = null)
    {
        _method = method;
        _unary = unary;
        _serverStreaming = serverStreaming;
        _clientStreaming = clientStreaming;
        _duplex = duplex;
    }

    public string FullName => _method.FullName;

    public MethodType Type => _method.Type;

    public void Bind(ServiceBinderBase binder)
    {
        switch (_method.Type)
        {
            case MethodType.Unary:
                binder.AddMethod(_method, _unary);
                break;
            case MethodType.ServerStreaming:
                binder.AddMethod(_method, _serverStreaming);
                break;
            case MethodType.ClientStreaming:
                binder.AddMethod(_method, _clientStreaming);
                break;
            default:
                binder.AddMethod(_method, _duplex);
                break;
        }
    }

    public async Task HandleCallAsync(HttpContext httpContext, GrpcServerOptions options, TimeProvider timeProvider, ILogger logger)
    {
        // Message size is enforced per message; Kestrel's whole-body limit and minimum data
        // rate would break long-lived streams (PROTOCOL "Streaming on Kestrel").
        if (httpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = null;
        }

        if (_method.Type is MethodType.ClientStreaming or MethodType.DuplexStreaming
            && httpContext.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate)
        {
            rate.MinDataRate = null;
        }

        var context = new HttpContextServerCallContext(httpContext, options, _method.FullName, logger);
        var handlerStarted = false;
        try
        {
            context.Initialize(timeProvider);
            switch (_method.Type)
            {
                case MethodType.Unary:
                {
                    var request = await ReadRequestAsync(httpContext, context).ConfigureAwait(false);
                    handlerStarted = true;
                    var response = await _unary!(request, context).ConfigureAwait(false);
                    await WriteUnaryResponseAsync(context, response).ConfigureAwait(false);
                    break;
                }

                case MethodType.ServerStreaming:
                {
                    var request = await ReadRequestAsync(httpContext, context).ConfigureAwait(false);
                    handlerStarted = true;
                    await _serverStreaming!(request, new HttpContextStreamWriter<TResponse>(context, _method.ResponseMarshaller), context).ConfigureAwait(false);
                    break;
                }

                case MethodType.ClientStreaming:
                {
                    handlerStarted = true;
                    var response = await _clientStreaming!(new HttpContextStreamReader<TRequest>(httpContext, context, _method.RequestMarshaller), context).ConfigureAwait(false);
                    await WriteUnaryResponseAsync(context, response).ConfigureAwait(false);
                    break;
                }

                default:
                    handlerStarted = true;
                    await _duplex!(new HttpContextStreamReader<TRequest>(httpContext, context, _method.RequestMarshaller), new HttpContextStreamWriter<TResponse>(context, _method.ResponseMarshaller), context).ConfigureAwait(false);
                    break;
            }

            await context.EndCallAsync(context.Status, context.ResponseTrailers).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            var status = await HandleErrorAsync(httpContext, context, options, logger, ex).ConfigureAwait(false);
            if (!handlerStarted)
            {
                // Initialize (coding, timeout) or reading the request message failed.
                options.CallRejected?.Invoke(_method.FullName, status);
            }
        }
        finally
        {
            await context.WaitForDeadlineWriteAsync().ConfigureAwait(false);
            context.Dispose();
        }
    }

    private static async Task WriteUnaryResponseAsync(HttpContextServerCallContext context, TResponse response, Marshaller<TResponse> marshaller)
        => await context.WriteMessageAsync(response, marshaller, null, context.CancellationToken).ConfigureAwait(false);

    private Task WriteUnaryResponseAsync(HttpContextServerCallContext context, TResponse response)
        => WriteUnaryResponseAsync(context, response, _method.ResponseMarshaller);

    private Task<TRequest> ReadRequestAsync(HttpContext httpContext, HttpContextServerCallContext context)
        => MessageFraming.ReadSingleMessageAsync(httpContext.Request.BodyReader, _method.RequestMarshaller, context.Decoder!, context.CancellationToken).AsTask();

    /// <summary>Ends a failed call with the status its failure maps to, and returns that status.</summary>
    private static async Task<StatusCode> HandleErrorAsync(HttpContext httpContext, HttpContextServerCallContext context, GrpcServerOptions options, ILogger logger, Exception ex)
    {
        if (context.ResponseCompleted)
        {
            // The deadline already ended the call; whatever the handler did after that is moot.
            return StatusCode.DeadlineExceeded;
        }

        Status status;
        Metadata? trailers = context.ResponseTrailers;
        if (context.DeadlineExceeded)
        {
            status = new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
        }
        else if (httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client went away (RST_STREAM CANCEL): nobody to tell. Debug, not Error.
            Log.CallCancelled(logger, context.Method);
            return StatusCode.Cancelled;
        }
        else if (ex is RpcException rpc)
        {
            status = rpc.Status;
            if (rpc.Trailers.Count > 0)
            {
                foreach (var entry in rpc.Trailers)
                {
                    trailers.Add(entry);
                }
            }

            if (rpc.StatusCode is StatusCode.Internal or StatusCode.ResourceExhausted or StatusCode.Unimplemented)
            {
                Log.CallFailed(logger, context.Method, status.StatusCode, status.Detail);
            }
        }
        else
        {
            Log.HandlerError(logger, context.Method, ex);
            status = new Status(StatusCode.Unknown, options.EnableDetailedErrors ? $"Exception was thrown by handler. {ex.GetType().Name}: {ex.Message}" : "Exception was thrown by handler.");
        }

        try
        {
            await context.EndCallAsync(status, trailers).ConfigureAwait(false);
        }
        catch (Exception writeError) when (writeError is IOException or InvalidOperationException or OperationCanceledException)
        {
            Log.StatusWriteFailed(logger, context.Method, writeError);
        }

        return status.StatusCode;
    }

    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Debug, "Call {Method} was cancelled by the client.", EventName = "CallCancelled")]
        public static partial void CallCancelled(ILogger logger, string method);

        [LoggerMessage(11, LogLevel.Information, "Call {Method} failed with {StatusCode}: {Detail}", EventName = "CallFailed")]
        public static partial void CallFailed(ILogger logger, string method, StatusCode statusCode, string detail);

        [LoggerMessage(12, LogLevel.Error, "Error in handler of {Method}.", EventName = "HandlerError")]
        public static partial void HandlerError(ILogger logger, string method, Exception exception);

        [LoggerMessage(13, LogLevel.Debug, "Could not write the final status of {Method}.", EventName = "StatusWriteFailed")]
        public static partial void StatusWriteFailed(ILogger logger, string method, Exception exception);
    }
}

internal sealed class HttpContextStreamWriter<T>(HttpContextServerCallContext context, Marshaller<T> marshaller) : IServerStreamWriter<T>
{
    public WriteOptions? WriteOptions { get; set; }

    public Task WriteAsync(T message, CancellationToken cancellationToken = default)
        => context.WriteMessageAsync(message, marshaller, WriteOptions, cancellationToken);
}

internal sealed class HttpContextStreamReader<T>(HttpContext httpContext, HttpContextServerCallContext context, Marshaller<T> marshaller) : IAsyncStreamReader<T>
{
    private bool _completed;

    public T Current { get; private set; } = default!;

    public async Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        if (_completed)
        {
            return false;
        }

        var reader = httpContext.Request.BodyReader;
        CancellationTokenSource? linked = null;
        var token = context.CancellationToken;
        if (cancellationToken.CanBeCanceled)
        {
            linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, token);
            token = linked.Token;
        }

        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(token).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (MessageFraming.TryReadMessage(ref buffer, context.Decoder!.MaxReceiveMessageSize, out var compressed, out var payload))
                {
                    try
                    {
                        Current = context.Decoder.Decode(payload, compressed, marshaller);
                    }
                    finally
                    {
                        reader.AdvanceTo(buffer.Start);
                    }

                    return true;
                }

                if (result.IsCompleted)
                {
                    var incomplete = !buffer.IsEmpty;
                    reader.AdvanceTo(buffer.End);
                    if (incomplete)
                    {
                        throw new RpcException(new Status(StatusCode.Internal, "Incomplete message."));
                    }

                    _completed = true;
                    return false;
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        finally
        {
            linked?.Dispose();
        }
    }
}
