using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Server.Telemetry;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Pipeline;

/// <summary>
/// What every gateway gRPC method shares, in one place: the <c>x-request-id</c> response header,
/// and the edge of error handling -- a failure that is not an <see cref="RpcException"/> (a bug)
/// is logged with the request id and answered INTERNAL with a message that names only the
/// request id, never exception text. Registered on every gRPC service but gateway.v1.Completion
/// (see <c>GatewayApp.AddServerInterceptor</c>), whose two methods apply the same edge inline
/// through <see cref="Fail(CompletionCall, Exception)"/>: grpc-dotnet's interceptor pipeline would
/// cost the hot path three async state machines per call. Calls a handler never saw (unknown
/// method, malformed or oversized message, wrong content-type) are counted by
/// <see cref="RejectedCalls"/>.
/// </summary>
internal sealed partial class GatewayServerInterceptor(ILogger<GatewayServerInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var requestId = Begin(context);
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw Fail(context, requestId, ex);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var requestId = Begin(context);
        try
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw Fail(context, requestId, ex);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var requestId = Begin(context);
        try
        {
            return await continuation(requestStream, context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw Fail(context, requestId, ex);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var requestId = Begin(context);
        try
        {
            await continuation(requestStream, responseStream, context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw Fail(context, requestId, ex);
        }
    }

    private static string Begin(ServerCallContext context) => CallerHeaders.ResolveRequestId(context.GetHttpContext());

    private Exception Fail(ServerCallContext context, string requestId, Exception exception)
        => Fail(context.GetHttpContext(), context.Method, context.Deadline, context.CancellationToken, requestId, exception);

    /// <summary>
    /// The same edge for a gateway.v1.Completion call, which is not behind the interceptor (its
    /// methods call the pipeline directly, see GatewayApp): the pipeline applies it to a gRPC
    /// call's failure (<see cref="CompletionCall.GrpcEdge"/>).
    /// </summary>
    public Exception Fail(CompletionCall call, Exception exception)
        => Fail(call.Http, call.Http.Request.Path.Value ?? "", call.Deadline, call.CancellationToken, call.RequestId, exception);

    private Exception Fail(HttpContext http, string method, DateTime deadline, CancellationToken cancellationToken, string requestId, Exception exception)
    {
        RejectedCalls.MarkHandled(http);
        switch (exception)
        {
            case RpcException:
                return exception;
            case OperationCanceledException when cancellationToken.IsCancellationRequested:
            case IOException when http.RequestAborted.IsCancellationRequested:
                // grpc-dotnet answers DEADLINE_EXCEEDED itself when the deadline passed; otherwise the
                // caller went away (a stream's read then breaks off with an IOException): no error to log.
                Log.CallCancelled(logger, method, requestId);
                return new RpcException(new Status(deadline <= DateTime.UtcNow ? StatusCode.DeadlineExceeded : StatusCode.Cancelled, "The call was cancelled."));
            default:
                Log.HandlerError(logger, method, requestId, exception);
                return new RpcException(new Status(StatusCode.Internal, $"The gateway had an internal error while processing the request. Quote request id {requestId} when reporting it."));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(150, LogLevel.Debug, "gRPC call {Method} ({RequestId}) cancelled.", EventName = "GrpcCallCancelled")]
        public static partial void CallCancelled(ILogger logger, string method, string requestId);

        [LoggerMessage(151, LogLevel.Error, "Error in handler of gRPC call {Method} ({RequestId}).", EventName = "GrpcHandlerError")]
        public static partial void HandlerError(ILogger logger, string method, string requestId, Exception exception);
    }
}

/// <summary>
/// Counts gRPC calls answered before any handler ran (grpc-dotnet rejects an unknown method, a
/// malformed or oversized message, a bad content-type or grpc-timeout itself) in
/// <c>gateway.requests.rejected</c>, by method and status. A call the interceptor saw fail is
/// not counted here; a call that ended OK never is. <see cref="Hosting.EdgeGuardMiddleware"/>
/// calls <see cref="Count"/> once the call has its final status (the edge's own answers, such as
/// headers over the limit, included).
/// </summary>
internal static class RejectedCalls
{
    private static readonly object Handled = new();

    public static void MarkHandled(HttpContext context) => context.Items[Handled] = Handled;

    /// <summary>True once a gateway handler (through the interceptor) answered the call.</summary>
    public static bool WasHandled(HttpContext context) => context.Items.ContainsKey(Handled);

    /// <summary>
    /// The call's <c>grpc-status</c> (empty when none was written) and the writable collection that
    /// holds it: the response headers of a trailers-only answer not yet sent, else the trailers;
    /// null when it can no longer be changed.
    /// </summary>
    public static string GrpcStatus(HttpContext context, out IHeaderDictionary? writable)
    {
        var headers = context.Response.Headers;
        var status = headers["grpc-status"].ToString();
        if (status.Length > 0)
        {
            writable = context.Response.HasStarted ? null : headers;
            return status;
        }

        var trailers = context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers;
        status = trailers?["grpc-status"].ToString() ?? string.Empty;
        writable = trailers is { IsReadOnly: false } ? trailers : null;
        return status;
    }

    /// <summary>
    /// Counts the finished call if it was a gRPC call that ended non-OK without reaching a handler.
    /// <paramref name="status"/> is its grpc-status when the caller has already read it (from
    /// <see cref="GrpcStatus"/>); null reads it here, and only for a gRPC call, so a REST request
    /// pays one endpoint-metadata lookup and no header reads.
    /// </summary>
    public static void Count(HttpContext context, GatewayMetrics metrics, string? status)
    {
        if (status is "" or "0")
        {
            return;
        }

        var grpcMethod = context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>();
        if (grpcMethod is null && !context.Request.ContentType.AsSpan().StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        status ??= GrpcStatus(context, out _);
        if (status.Length == 0 || status == "0" || WasHandled(context))
        {
            return;
        }

        var code = int.TryParse(status, out var parsed) ? (StatusCode)parsed : StatusCode.Unknown;
        // Only methods the server serves become label values: callers cannot mint series.
        var method = grpcMethod?.Method.FullName ?? "unknown";
        metrics.RecordRejectedCall(method, CallTelemetry.StatusName(code));
    }
}
