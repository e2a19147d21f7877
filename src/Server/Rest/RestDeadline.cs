using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Server.Rest;

/// <summary>
/// A REST call's cancellation: the client's disconnect plus the optional
/// <c>x-request-timeout</c> deadline (seconds, or a number with ms / s / m / h).
/// </summary>
internal sealed class RestDeadline : IDisposable
{
    public const string TimeoutHeader = "x-request-timeout";

    private readonly HttpContext _http;
    private readonly CancellationTokenSource? _deadlineCts;
    private readonly CancellationTokenSource? _linked;

    private RestDeadline(HttpContext http, TimeSpan? timeout, TimeProvider timeProvider)
    {
        _http = http;
        if (timeout is { } t)
        {
            Deadline = timeProvider.GetUtcNow().UtcDateTime + t;
            _deadlineCts = new CancellationTokenSource(t, timeProvider);
            _linked = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, _deadlineCts.Token);
            Token = _linked.Token;
        }
        else
        {
            Deadline = DateTime.MaxValue;
            Token = http.RequestAborted;
        }
    }

    /// <summary>UTC deadline, or <see cref="DateTime.MaxValue"/> without the header.</summary>
    public DateTime Deadline { get; }

    public CancellationToken Token { get; }

    /// <summary>The deadline passed (and the client is still there).</summary>
    public bool Exceeded => _deadlineCts is { IsCancellationRequested: true } && !_http.RequestAborted.IsCancellationRequested;

    /// <summary>The call's deadline; <paramref name="error"/> is set when the header is present but unusable (answer 400).</summary>
    public static RestDeadline Create(HttpContext http, TimeProvider timeProvider, out string? error)
    {
        error = null;
        TimeSpan? timeout = null;
        var value = http.Request.Headers[TimeoutHeader].ToString();
        if (value.Length > 0)
        {
            if (TryParseTimeout(value, out var parsed))
            {
                timeout = parsed;
            }
            else
            {
                error = $"Header {TimeoutHeader}: '{value}' is not a timeout; use seconds (\"30\", \"2.5\") or a unit (\"500ms\", \"30s\", \"2m\"), more than 0 and at most 24h.";
            }
        }

        return new RestDeadline(http, timeout, timeProvider);
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
        _linked?.Dispose();
        _deadlineCts?.Dispose();
    }
}
