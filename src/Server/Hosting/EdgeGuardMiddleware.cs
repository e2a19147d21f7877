using System.Globalization;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Pipeline;
using Gateway.Grpc.Server.Rest;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Hosting;

/// <summary>
/// The outermost middleware, for both doors: refuses requests whose headers are over
/// <c>requestLimits:maxHeaderBytes</c> in the door's own shape (431 OpenAI JSON on HTTP, a
/// trailers-only INVALID_ARGUMENT on gRPC), and turns any exception that escapes the endpoints
/// into a logged error and an answer that names the request id -- a 500 with an OpenAI-shaped
/// body on HTTP, INTERNAL on gRPC -- never an empty body or a reset. Kestrel's own framing
/// errors (a body over its limit, a chunked body that breaks off) become 413/400 the same way.
/// Once a gRPC call has its final status, the edge also counts it if no handler answered it
/// (<see cref="RejectedCalls"/>): one middleware, one read of the status.
/// </summary>
internal sealed partial class EdgeGuardMiddleware(RequestDelegate next, GatewayOptions options, GatewayMetrics metrics, IServiceProvider services, ILogger<EdgeGuardMiddleware> logger)
{
    private readonly int _maxHeaderBytes = options.RequestLimits.MaxHeaderBytes;

    /// <summary>The hard limit Kestrel enforces (with a bare 431 or a stream reset): above ours, so ours answers first.</summary>
    public static int KestrelHeaderLimit(GatewayOptions options) => Math.Max(64 * 1024, options.RequestLimits.MaxHeaderBytes * 2);

    public async Task InvokeAsync(HttpContext context)
    {
        var grpc = IsGrpc(context.Request);
        var headerBytes = HeaderBytes(context.Request.Headers);
        if (headerBytes > _maxHeaderBytes)
        {
            var requestId = CallerHeaders.ResolveRequestId(context);
            Log.HeadersTooLarge(logger, requestId, headerBytes, _maxHeaderBytes);
            var message = $"The request headers are {headerBytes.ToString(CultureInfo.InvariantCulture)} bytes; the gateway accepts at most {_maxHeaderBytes.ToString(CultureInfo.InvariantCulture)} (requestLimits:maxHeaderBytes).";
            if (grpc)
            {
                WriteGrpcStatus(context, StatusCode.InvalidArgument, message);
                RejectedCalls.Count(context, metrics, status: null);
                return;
            }

            await RestErrorMapping.WriteOpenAiErrorAsync(context, RestErrorMapping.BadRequest(message, code: "headers_too_large") with { HttpStatus = StatusCodes.Status431RequestHeaderFieldsTooLarge }).ConfigureAwait(false);
            return;
        }

        if (grpc && IsCompletionCall(context))
        {
            // The Completion service and everything its calls use are singletons, so a completion
            // call is served from the root provider: grpc-dotnet activates the service from
            // RequestServices, which would otherwise open (and dispose) a DI scope per call for
            // nothing. Other endpoints keep their request scope.
            context.RequestServices = services;
        }

        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await HandleAsync(context, grpc, ex).ConfigureAwait(false);
            RejectedCalls.Count(context, metrics, status: null);
            return;
        }

        RejectedCalls.Count(context, metrics, grpc ? RewriteUnreadableMessage(context) : null);
    }

    private static bool IsCompletionCall(HttpContext context)
        => context.GetEndpoint()?.Metadata.GetMetadata<global::Grpc.AspNetCore.Server.GrpcMethodMetadata>()?.ServiceType == typeof(Services.CompletionGrpcService);

    /// <summary>
    /// grpc-dotnet deserializes the request before any interceptor sees it, and answers a message
    /// it cannot parse -- Google.Protobuf refuses a string field that is not valid UTF-8, or a
    /// truncated message -- with UNKNOWN "Exception was thrown by handler.", as if the gateway had
    /// a bug. A call that failed UNKNOWN without reaching a gateway handler failed there: it is
    /// the caller's message, so it becomes INVALID_ARGUMENT saying what to fix. The parser does not
    /// say which field, so neither can this. A call whose client went away is left alone: its
    /// UNKNOWN is the read that broke off (a streaming call such as reflection's), and nobody
    /// is there to read a status.
    /// </summary>
    /// <returns>The call's grpc-status once the rewrite is done (empty when none was written).</returns>
    private string RewriteUnreadableMessage(HttpContext context)
    {
        // The status first: an answered call (OK, or any status but UNKNOWN) returns here without
        // touching the endpoint metadata or the request's items.
        var status = RejectedCalls.GrpcStatus(context, out var target);
        if (status != "2"
            || target is null
            || context.RequestAborted.IsCancellationRequested
            || RejectedCalls.WasHandled(context)
            || context.GetEndpoint()?.Metadata.GetMetadata<global::Grpc.AspNetCore.Server.GrpcMethodMetadata>() is null
            || !target["grpc-message"].ToString().StartsWith("Exception was thrown by handler", StringComparison.Ordinal))
        {
            return status;
        }

        var requestId = CallerHeaders.ResolveRequestId(context);
        Log.UnreadableMessage(logger, context.Request.Path, requestId);
        status = ((int)StatusCode.InvalidArgument).ToString(CultureInfo.InvariantCulture);
        target["grpc-status"] = status;
        target["grpc-message"] = Uri.EscapeDataString("The request message could not be parsed: a string field is not valid UTF-8, or the protobuf encoding is malformed. Send the message as the generated client writes it (strings as UTF-8).");
        return status;
    }

    private async Task HandleAsync(HttpContext context, bool grpc, Exception exception)
    {
        var requestId = CallerHeaders.ResolveRequestId(context);
        if (context.RequestAborted.IsCancellationRequested)
        {
            Log.ClientGone(logger, context.Request.Method, context.Request.Path, requestId);
            return;
        }

        RestError error;
        if (exception is BadHttpRequestException bad)
        {
            // Kestrel's verdict on the request framing: the caller's fault, not a bug.
            Log.BadRequest(logger, context.Request.Method, context.Request.Path, requestId, bad.StatusCode, bad.Message);
            error = bad.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? RestErrorMapping.BadRequest($"The request body is larger than the gateway accepts (requestLimits:maxBodyBytes). {bad.Message}", code: "request_too_large") with { HttpStatus = StatusCodes.Status413PayloadTooLarge }
                : RestErrorMapping.BadRequest("The request could not be read: " + bad.Message, code: "invalid_body");
        }
        else
        {
            Log.Unhandled(logger, context.Request.Method, context.Request.Path, requestId, exception);
            error = RestErrorMapping.Internal(requestId);
        }

        if (context.Response.HasStarted)
        {
            // Part of an answer is out: the only honest end is to cut the exchange off.
            context.Abort();
            return;
        }

        context.Response.Clear();
        context.Response.Headers[CallerHeaders.RequestIdHeader] = requestId;
        if (grpc)
        {
            WriteGrpcStatus(context, error.GrpcStatus, error.Message);
            return;
        }

        try
        {
            await RestErrorMapping.WriteOpenAiErrorAsync(context, error).ConfigureAwait(false);
        }
        catch (Exception writeError) when (writeError is IOException or OperationCanceledException)
        {
            Log.ClientGone(logger, context.Request.Method, context.Request.Path, requestId);
        }
    }

    private static bool IsGrpc(HttpRequest request)
        => request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);

    /// <summary>Header names and values, as HPACK and HTTP/1.1 limits count them (without per-field overhead).</summary>
    private static long HeaderBytes(IHeaderDictionary headers)
    {
        long total = 0;
        foreach (var header in headers)
        {
            total += header.Key.Length;
            foreach (var value in header.Value)
            {
                total += value?.Length ?? 0;
            }
        }

        return total;
    }

    /// <summary>A trailers-only gRPC response (PROTOCOL-HTTP2: Trailers-Only is HTTP-Status, Content-Type, Trailers).</summary>
    private static void WriteGrpcStatus(HttpContext context, StatusCode status, string message)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = context.Request.ContentType is { } type && type.StartsWith("application/grpc-web", StringComparison.OrdinalIgnoreCase) ? type : "application/grpc";
        response.Headers["grpc-status"] = ((int)status).ToString(CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = Uri.EscapeDataString(message);
    }

    private static partial class Log
    {
        [LoggerMessage(160, LogLevel.Error, "Unhandled error in {Method} {Path} ({RequestId}); answered 500 with the request id.", EventName = "UnhandledRequestError")]
        public static partial void Unhandled(ILogger logger, string method, string path, string requestId, Exception exception);

        [LoggerMessage(161, LogLevel.Debug, "{Method} {Path} ({RequestId}) refused by Kestrel with {StatusCode}: {Reason}", EventName = "BadHttpRequest")]
        public static partial void BadRequest(ILogger logger, string method, string path, string requestId, int statusCode, string reason);

        [LoggerMessage(162, LogLevel.Debug, "{Method} {Path} ({RequestId}) failed after the client went away.", EventName = "EdgeClientGone")]
        public static partial void ClientGone(ILogger logger, string method, string path, string requestId);

        [LoggerMessage(164, LogLevel.Debug, "gRPC call {Path} ({RequestId}) refused: its request message could not be parsed.", EventName = "UnreadableGrpcMessage")]
        public static partial void UnreadableMessage(ILogger logger, string path, string requestId);

        [LoggerMessage(163, LogLevel.Debug, "Request {RequestId} refused: headers of {Bytes} bytes over the limit of {Limit}.", EventName = "HeadersTooLarge")]
        public static partial void HeadersTooLarge(ILogger logger, string requestId, long bytes, int limit);
    }
}

internal static class EdgeGuardMiddlewareExtensions
{
    public static IApplicationBuilder UseEdgeGuard(this IApplicationBuilder app) => app.UseMiddleware<EdgeGuardMiddleware>();
}
