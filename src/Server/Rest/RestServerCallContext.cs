using System.Globalization;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Server;
using Gateway.Grpc.Server.Services;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Server.Rest;

/// <summary>
/// The <see cref="ServerCallContext"/> of a call that arrived as REST/JSON: the same handlers
/// run with it as with a gRPC call. Request headers become metadata (authorization and
/// x-request-id included), cancellation is the client's disconnect plus the optional
/// <c>x-request-timeout</c> deadline.
/// </summary>
internal sealed class RestServerCallContext : ServerCallContext, IDisposable
{
    public const string RequestIdHeader = "x-request-id";
    public const string TimeoutHeader = "x-request-timeout";
    private const int MaxRequestIdLength = 128;

    private readonly HttpContext _httpContext;
    private readonly CancellationTokenSource? _deadlineCts;
    private readonly CancellationTokenSource _cts;

    private RestServerCallContext(HttpContext httpContext, string method, Metadata requestHeaders, string requestId, TimeSpan? timeout, TimeProvider timeProvider)
    {
        _httpContext = httpContext;
        Method = method;
        RequestHeaders = requestHeaders;
        RequestId = requestId;
        if (timeout is { } t)
        {
            Deadline = timeProvider.GetUtcNow().UtcDateTime + t;
            _deadlineCts = new CancellationTokenSource(t, timeProvider);
            _cts = CancellationTokenSource.CreateLinkedTokenSource(httpContext.RequestAborted, _deadlineCts.Token);
        }
        else
        {
            Deadline = DateTime.MaxValue;
            _cts = CancellationTokenSource.CreateLinkedTokenSource(httpContext.RequestAborted);
        }
    }

    public override string Method { get; }

    public override string Host => _httpContext.Request.Host.Value ?? "";

    public override string Peer => FormatPeer(_httpContext.Connection);

    public override DateTime Deadline { get; }

    public override Metadata RequestHeaders { get; }

    public override CancellationToken CancellationToken => _cts.Token;

    /// <summary>Collected but not sent: HTTP/1.1 JSON responses carry no trailers.</summary>
    public override Metadata ResponseTrailers { get; } = new();

    public override Status Status { get; set; } = Status.DefaultSuccess;

    public override WriteOptions? WriteOptions { get; set; }

    public override bool LastRequestMessageCompressed => false;

    /// <summary>The caller's x-request-id, or one made for this call; echoed in the response.</summary>
    public string RequestId { get; }

    /// <summary>The x-request-timeout deadline passed (and the client is still there).</summary>
    public bool DeadlineExceeded => _deadlineCts is { IsCancellationRequested: true } && !_httpContext.RequestAborted.IsCancellationRequested;

    public override HttpContext GetHttpContext() => _httpContext;

    public override Task WriteResponseHeadersAsync(Metadata responseHeaders)
    {
        ArgumentNullException.ThrowIfNull(responseHeaders);
        if (_httpContext.Response.HasStarted)
        {
            throw new InvalidOperationException("Response headers can only be sent once per call.");
        }

        foreach (var entry in responseHeaders)
        {
            if (!entry.IsBinary && !entry.Key.StartsWith("grpc-", StringComparison.Ordinal))
            {
                _httpContext.Response.Headers.Append(entry.Key, entry.Value);
            }
        }

        // The JSON body decides when the response starts (its status code depends on the outcome).
        return Task.CompletedTask;
    }

    public override bool TrySetResponseCompression(string encoding) => false;

    /// <summary>
    /// The caller's x-request-id when it is usable (1-128 printable ASCII characters), else a
    /// new one; set on the response at once so every answer, errors included, carries it.
    /// </summary>
    public static string ResolveRequestId(HttpContext httpContext)
    {
        var callerId = httpContext.Request.Headers[RequestIdHeader].ToString();
        var requestId = callerId.Length is > 0 and <= MaxRequestIdLength && IsPrintableAscii(callerId) && !callerId.Contains(',', StringComparison.Ordinal)
            ? callerId
            : RequestIds.New();
        httpContext.Response.Headers[RequestIdHeader] = requestId;
        return requestId;
    }

    /// <summary>
    /// Builds the context for one call of <paramref name="method"/>; <paramref name="timeoutError"/>
    /// is set when x-request-timeout is present but unusable (the caller answers 400).
    /// </summary>
    public static RestServerCallContext Create(HttpContext httpContext, string method, string requestId, TimeProvider timeProvider, out string? timeoutError)
    {
        var metadata = ReadMetadata(httpContext.Request.Headers);
        RemoveAll(metadata, RequestIdHeader);
        metadata.Add(RequestIdHeader, requestId);
        timeoutError = null;
        TimeSpan? timeout = null;
        var timeoutValue = httpContext.Request.Headers[TimeoutHeader].ToString();
        if (timeoutValue.Length > 0)
        {
            if (TryParseTimeout(timeoutValue, out var parsed))
            {
                timeout = parsed;
            }
            else
            {
                timeoutError = $"Header {TimeoutHeader}: '{timeoutValue}' is not a timeout; use seconds (\"30\", \"2.5\") or a unit (\"500ms\", \"30s\", \"2m\"), more than 0 and at most 24h.";
            }
        }

        return new RestServerCallContext(httpContext, method, metadata, requestId, timeout, timeProvider);
    }

    /// <summary>Seconds ("30", "2.5") or a number with ms / s / m / h.</summary>
    internal static bool TryParseTimeout(string value, out TimeSpan timeout)
    {
        timeout = default;
        var text = value.Trim();
        double factorMs = 1000;
        if (text.EndsWith("ms", StringComparison.OrdinalIgnoreCase))
        {
            factorMs = 1;
            text = text[..^2];
        }
        else if (text.EndsWith('s') || text.EndsWith('S'))
        {
            text = text[..^1];
        }
        else if (text.EndsWith('m') || text.EndsWith('M'))
        {
            factorMs = 60_000;
            text = text[..^1];
        }
        else if (text.EndsWith('h') || text.EndsWith('H'))
        {
            factorMs = 3_600_000;
            text = text[..^1];
        }

        if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        var ms = number * factorMs;
        if (!(ms > 0) || ms > TimeSpan.FromHours(24).TotalMilliseconds)
        {
            return false;
        }

        timeout = TimeSpan.FromMilliseconds(ms);
        return true;
    }

    public void Dispose()
    {
        _cts.Dispose();
        _deadlineCts?.Dispose();
    }

    private static void RemoveAll(Metadata metadata, string key)
    {
        for (var i = metadata.Count - 1; i >= 0; i--)
        {
            if (metadata[i].Key == key)
            {
                metadata.RemoveAt(i);
            }
        }
    }

    /// <summary>
    /// HTTP headers as gRPC metadata: the same view a gRPC handler gets. Transport headers are
    /// left out; a header whose name or value metadata cannot carry is skipped.
    /// </summary>
    private static Metadata ReadMetadata(IHeaderDictionary headers)
    {
        var metadata = new Metadata();
        foreach (var (name, values) in headers)
        {
            if (IsTransportHeader(name) || !IsValidKey(name))
            {
                continue;
            }

            var key = name.ToLowerInvariant();
            foreach (var value in values)
            {
                if (value is null)
                {
                    continue;
                }

                if (key.EndsWith(Metadata.BinaryHeaderSuffix, StringComparison.Ordinal))
                {
                    foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                    {
                        if (TryDecodeBase64(part, out var bytes))
                        {
                            metadata.Add(key, bytes);
                        }
                    }
                }
                else if (IsPrintableAscii(value))
                {
                    metadata.Add(key, value);
                }
            }
        }

        return metadata;
    }

    private static bool IsTransportHeader(string name)
        => name.StartsWith(':')
            || name.StartsWith("grpc-", StringComparison.OrdinalIgnoreCase)
            || name.Equals("host", StringComparison.OrdinalIgnoreCase)
            || name.Equals("connection", StringComparison.OrdinalIgnoreCase)
            || name.Equals("keep-alive", StringComparison.OrdinalIgnoreCase)
            || name.Equals("content-length", StringComparison.OrdinalIgnoreCase)
            || name.Equals("content-type", StringComparison.OrdinalIgnoreCase)
            || name.Equals("content-encoding", StringComparison.OrdinalIgnoreCase)
            || name.Equals("transfer-encoding", StringComparison.OrdinalIgnoreCase)
            || name.Equals("accept-encoding", StringComparison.OrdinalIgnoreCase)
            || name.Equals("te", StringComparison.OrdinalIgnoreCase)
            || name.Equals("upgrade", StringComparison.OrdinalIgnoreCase)
            || name.Equals("expect", StringComparison.OrdinalIgnoreCase)
            || name.Equals(TimeoutHeader, StringComparison.OrdinalIgnoreCase);

    private static bool IsValidKey(string name)
    {
        if (name.Length == 0)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
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

    private static bool TryDecodeBase64(string text, out byte[] bytes)
    {
        var padded = (text.Length % 4) switch
        {
            2 => text + "==",
            3 => text + "=",
            _ => text,
        };
        bytes = new byte[padded.Length];
        if (Convert.TryFromBase64String(padded, bytes, out var written))
        {
            bytes = bytes[..written];
            return true;
        }

        return false;
    }
}
