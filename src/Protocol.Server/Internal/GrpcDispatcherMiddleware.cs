using Gateway.Grpc.Protocol.Internal;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Gateway.Grpc.Protocol.Server.Internal;

/// <summary>
/// Routes gRPC requests by :path to their handlers. Non-gRPC requests to non-gRPC paths go on
/// down the pipeline (REST, metrics), so one app can host both.
/// </summary>
internal sealed partial class GrpcDispatcherMiddleware(RequestDelegate next, GrpcServiceRegistry registry, IOptions<GrpcServerOptions> options, TimeProvider timeProvider, ILogger<GrpcDispatcherMiddleware> logger)
{
    private readonly GrpcServerOptions _options = options.Value;

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var isGrpc = GrpcProtocolConstants.IsGrpcContentType(request.ContentType);
        var path = request.Path.Value ?? "";
        if (!isGrpc)
        {
            if (HttpMethods.IsPost(request.Method) && registry.TryGetHandler(path, out var known))
            {
                // PROTOCOL "Responses": a wrong content-type on a gRPC method is 415.
                Rejected(known.FullName, StatusCode.Internal);
                return WriteHttpErrorAsync(context, StatusCodes.Status415UnsupportedMediaType, $"Content-Type '{request.ContentType}' is not supported. Use 'application/grpc'.");
            }

            return next(context);
        }

        if (!HttpMethods.IsPost(request.Method))
        {
            Rejected(Known(path), StatusCode.Internal);
            return WriteHttpErrorAsync(context, StatusCodes.Status405MethodNotAllowed, $"gRPC requires POST, got {request.Method}.");
        }

        if (!string.Equals(request.Protocol, "HTTP/2", StringComparison.Ordinal) && !string.Equals(request.Protocol, "HTTP/3", StringComparison.Ordinal))
        {
            Rejected(Known(path), StatusCode.Internal);
            context.Response.Headers.Upgrade = "h2c";
            return WriteHttpErrorAsync(context, StatusCodes.Status426UpgradeRequired, $"Request protocol '{request.Protocol}' is not supported. gRPC needs HTTP/2.");
        }

        if (registry.TryGetHandler(path, out var handler))
        {
            return handler.HandleCallAsync(context, _options, timeProvider, logger);
        }

        Rejected(null, StatusCode.Unimplemented);
        return WriteUnimplementedAsync(context, path);
    }

    private string? Known(string path) => registry.TryGetHandler(path, out var handler) ? handler.FullName : null;

    private void Rejected(string? method, StatusCode status) => _options.CallRejected?.Invoke(method, status);

    private Task WriteUnimplementedAsync(HttpContext context, string path)
    {
        // Trailers-Only UNIMPLEMENTED (PROTOCOL "Responses"). Drain nothing: the client gets its
        // status at once; Kestrel resets the unread request body.
        var slash = path.LastIndexOf('/');
        var service = slash > 1 ? path[1..slash] : path.TrimStart('/');
        var message = registry.HasService(service)
            ? $"Method is unimplemented: {path}."
            : $"Service is unimplemented: {service}.";
        Log.Unimplemented(logger, path);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocolConstants.GrpcContentType;
        response.Headers[GrpcProtocolConstants.StatusTrailer] = "12";
        response.Headers[GrpcProtocolConstants.MessageTrailer] = PercentEncoding.Encode(message);
        return Task.CompletedTask;
    }

    private static Task WriteHttpErrorAsync(HttpContext context, int httpStatus, string message)
    {
        var response = context.Response;
        response.StatusCode = httpStatus;
        response.Headers[GrpcProtocolConstants.StatusTrailer] = "13";
        response.Headers[GrpcProtocolConstants.MessageTrailer] = PercentEncoding.Encode(message);
        response.ContentType = "text/plain; charset=utf-8";
        return response.WriteAsync(message + "\n");
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Debug, "Unimplemented gRPC path {Path}.", EventName = "Unimplemented")]
        public static partial void Unimplemented(ILogger logger, string path);
    }
}
