using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Gateway.Grpc.Server.Dispatch;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Server.Rest;

/// <summary>How one gRPC status reads over HTTP: the status code and OpenAI's error type and code.</summary>
internal readonly record struct HttpErrorShape(int HttpStatus, string Type, string Code);

/// <summary>A failed REST call, ready to write: HTTP status, OpenAI error fields, retry hint.</summary>
internal sealed record RestError(StatusCode GrpcStatus, int HttpStatus, string Message, string Type, string? Code, string? Param, TimeSpan? RetryAfter);

/// <summary>
/// The one table that turns a gRPC status into an HTTP status and an OpenAI error
/// (<c>{"error":{"message","type","param","code"}}</c>).
/// </summary>
internal static class RestErrorMapping
{
    /// <summary>Retry-After sent with a 429 when the upstream gave no hint.</summary>
    public static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromSeconds(1);

    public static HttpErrorShape Shape(StatusCode code) => code switch
    {
        StatusCode.InvalidArgument => new(StatusCodes.Status400BadRequest, "invalid_request_error", "invalid_request"),
        StatusCode.FailedPrecondition => new(StatusCodes.Status400BadRequest, "invalid_request_error", "failed_precondition"),
        StatusCode.OutOfRange => new(StatusCodes.Status400BadRequest, "invalid_request_error", "out_of_range"),
        StatusCode.Unauthenticated => new(StatusCodes.Status401Unauthorized, "authentication_error", "invalid_api_key"),
        StatusCode.PermissionDenied => new(StatusCodes.Status403Forbidden, "permission_error", "permission_denied"),
        StatusCode.NotFound => new(StatusCodes.Status404NotFound, "invalid_request_error", "not_found"),
        StatusCode.AlreadyExists => new(StatusCodes.Status409Conflict, "invalid_request_error", "already_exists"),
        StatusCode.Aborted => new(StatusCodes.Status409Conflict, "conflict_error", "aborted"),
        StatusCode.ResourceExhausted => new(StatusCodes.Status429TooManyRequests, "rate_limit_error", "rate_limit_exceeded"),
        StatusCode.Cancelled => new(499, "cancelled", "cancelled"),
        StatusCode.Unimplemented => new(StatusCodes.Status501NotImplemented, "invalid_request_error", "not_implemented"),
        StatusCode.Unavailable => new(StatusCodes.Status503ServiceUnavailable, "server_error", "service_unavailable"),
        StatusCode.DeadlineExceeded => new(StatusCodes.Status504GatewayTimeout, "timeout_error", "timeout"),
        _ => new(StatusCodes.Status500InternalServerError, "server_error", "internal_error"),
    };

    /// <summary>
    /// The REST error for a call that failed: the caller's deadline, an RpcException's
    /// status, or (<paramref name="unexpected"/> = true) a bug, answered as a 500 naming only the
    /// request id.
    /// </summary>
    public static RestError FromHandlerFailure(bool deadlineExceeded, string requestId, Exception exception, out bool unexpected)
    {
        unexpected = false;
        if (deadlineExceeded && exception is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled or StatusCode.DeadlineExceeded })
        {
            return DeadlineExceeded();
        }

        if (exception is RpcException rpc)
        {
            return FromRpc(rpc);
        }

        unexpected = true;
        return Internal(requestId);
    }

    /// <summary>
    /// An RpcException as a REST error. The error class from the <c>gateway-error-kind</c>
    /// trailer becomes <c>code</c>, <c>retry-after-ms</c> the retry hint, and a leading
    /// <c>field: </c> in the detail (how the validator names fields) the <c>param</c>.
    /// </summary>
    public static RestError FromRpc(RpcException rpc)
    {
        var shape = Shape(rpc.StatusCode);
        var detail = rpc.Status.Detail;
        var param = ParamOf(detail);
        var kind = rpc.Trailers.GetValue(ErrorMapping.ErrorKindTrailer);
        string? code = kind is { Length: > 0 } ? kind : shape.Code;
        if (rpc.StatusCode == StatusCode.NotFound && ((param == "model" && kind is null) || kind == "model_not_found"))
        {
            code = "model_not_found";
        }

        TimeSpan? retryAfter = null;
        if (rpc.Trailers.GetValue(ErrorMapping.RetryAfterTrailer) is { } ms
            && long.TryParse(ms, NumberStyles.None, CultureInfo.InvariantCulture, out var millis))
        {
            retryAfter = TimeSpan.FromMilliseconds(millis);
        }
        else if (rpc.StatusCode == StatusCode.ResourceExhausted)
        {
            retryAfter = DefaultRetryAfter;
        }

        var message = detail.Length > 0 ? detail : DefaultMessage(rpc.StatusCode);
        return new RestError(rpc.StatusCode, shape.HttpStatus, message, shape.Type, code, param, retryAfter);
    }

    public static RestError Create(StatusCode status, string message, string? param = null, string? code = null)
    {
        var shape = Shape(status);
        return new RestError(status, shape.HttpStatus, message, shape.Type, code ?? shape.Code, param, status == StatusCode.ResourceExhausted ? DefaultRetryAfter : null);
    }

    /// <summary>A 400 for a request the REST layer itself could not read.</summary>
    public static RestError BadRequest(string message, string? param = null, string? code = null)
        => Create(StatusCode.InvalidArgument, message, param, code);

    public static RestError DeadlineExceeded()
        => Create(StatusCode.DeadlineExceeded, $"The request did not complete before its deadline (header {RestDeadline.TimeoutHeader}).", code: "timeout");

    /// <summary>An unexpected failure: no exception text or stack trace reaches the caller.</summary>
    public static RestError Internal(string requestId)
        => Create(StatusCode.Internal, $"The gateway had an internal error while processing the request. Quote request id {requestId} when reporting it.", code: "internal_error");

    private static string DefaultMessage(StatusCode status) => status switch
    {
        StatusCode.Unauthenticated => "Authentication failed.",
        StatusCode.PermissionDenied => "Permission denied.",
        StatusCode.ResourceExhausted => "Rate limit exceeded.",
        StatusCode.Unavailable => "The service is unavailable; retry later.",
        StatusCode.DeadlineExceeded => "The request timed out.",
        _ => "The request failed (" + status + ").",
    };

    /// <summary>"messages[0].role: must be set" names <c>messages[0].role</c>.</summary>
    internal static string? ParamOf(string detail)
    {
        var colon = detail.IndexOf(": ", StringComparison.Ordinal);
        if (colon <= 0 || colon > 120)
        {
            return null;
        }

        for (var i = 0; i < colon; i++)
        {
            var c = detail[i];
            if (!(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '.' or '[' or ']'))
            {
                return null;
            }
        }

        return detail[..colon];
    }

    /// <summary>Writes the error as the whole response (the response must not have started).</summary>
    public static async Task WriteOpenAiErrorAsync(HttpContext context, RestError error)
    {
        var response = context.Response;
        response.StatusCode = error.HttpStatus;
        response.ContentType = "application/json";
        SetRetryAfter(response, error);
        using (var writer = new Utf8JsonWriter(response.BodyWriter, RestJson.WriterOptions))
        {
            WriteOpenAiErrorObject(writer, error);
        }

        response.BodyWriter.Write("\n"u8);
        await response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary><c>{"error":{"message","type","param","code"}}</c>: the body of an error response or an SSE error event.</summary>
    public static void WriteOpenAiErrorObject(Utf8JsonWriter writer, RestError error)
    {
        writer.WriteStartObject();
        writer.WriteStartObject("error");
        writer.WriteString("message", error.Message);
        writer.WriteString("type", error.Type);
        if (error.Param is null)
        {
            writer.WriteNull("param");
        }
        else
        {
            writer.WriteString("param", error.Param);
        }

        if (error.Code is null)
        {
            writer.WriteNull("code");
        }
        else
        {
            writer.WriteString("code", error.Code);
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void SetRetryAfter(HttpResponse response, RestError error)
    {
        if (error.RetryAfter is not { } retryAfter)
        {
            return;
        }

        // Retry-After is whole seconds (RFC 9110 10.2.3); the OpenAI SDKs also read retry-after-ms.
        var seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
        response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        response.Headers["retry-after-ms"] = ((long)Math.Ceiling(retryAfter.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
    }
}
