using Gateway.Grpc.Server.Services;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Server.Pipeline;

/// <summary>
/// The caller's headers every front door reads the same way: the API key and the request id.
/// gRPC metadata and HTTP/1.1 headers are both HTTP headers, so one reader serves gRPC,
/// gRPC-Web, OpenAI REST and JSON transcoding alike.
/// </summary>
internal static class CallerHeaders
{
    public const string RequestIdHeader = "x-request-id";
    public const string ApiKeyHeader = "x-api-key";
    private const int MaxRequestIdLength = 128;

    /// <summary>The caller's key from <c>authorization: Bearer</c> (or <c>x-api-key</c>); null when neither is sent.</summary>
    public static string? ApiKey(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.Length > 0)
        {
            return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization[7..].Trim() : authorization.Trim();
        }

        var apiKey = request.Headers[ApiKeyHeader].ToString();
        return apiKey.Length > 0 ? apiKey : null;
    }

    /// <summary>
    /// The caller's x-request-id when it is usable (1-128 printable ASCII characters, no comma),
    /// else a new time-ordered one; set on the response at once so every answer, errors
    /// included, carries it. Idempotent: a second call returns the id the first one set.
    /// </summary>
    public static string ResolveRequestId(HttpContext httpContext)
    {
        var known = httpContext.Response.Headers[RequestIdHeader];
        if (known.Count == 1)
        {
            return known.ToString();
        }

        var callerId = httpContext.Request.Headers[RequestIdHeader].ToString();
        var requestId = callerId.Length is > 0 and <= MaxRequestIdLength && IsPrintableAscii(callerId) && !callerId.Contains(',', StringComparison.Ordinal)
            ? callerId
            : RequestIds.New();
        if (!httpContext.Response.HasStarted)
        {
            // Once the headers are out the id can only go to the log (writing them would throw).
            httpContext.Response.Headers[RequestIdHeader] = requestId;
        }

        return requestId;
    }

    private static bool IsPrintableAscii(string value)
    {
        foreach (var c in value)
        {
            if (c < 0x20 || c > 0x7E)
            {
                return false;
            }
        }

        return true;
    }
}
