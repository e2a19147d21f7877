using System.Globalization;
using Grpc.Core;

namespace Gateway.Grpc.Client;

/// <summary>One upstream attempt of a call, as the <c>gateway-attempts</c> trailer lists it.</summary>
/// <param name="Number">1-based attempt number.</param>
/// <param name="Deployment">The deployment tried.</param>
/// <param name="Outcome"><c>success</c>, <c>failed</c>, <c>cancelled</c> or <c>running</c>.</param>
/// <param name="ErrorKind">The normalized error of a failed attempt (e.g. <c>rate_limited</c>), or null.</param>
/// <param name="Hedged">Whether the attempt was a hedge.</param>
/// <param name="Fallback">Whether the attempt went to a fallback deployment.</param>
public sealed record GatewayAttempt(int Number, string Deployment, string Outcome, string? ErrorKind, bool Hedged, bool Fallback);

/// <summary>
/// Reads the metadata the gateway adds to a call: on failures <c>gateway-error-kind</c> and
/// <c>retry-after-ms</c>, on completion calls <c>gateway-attempts</c>. Use them on
/// <see cref="RpcException.Trailers"/> or on a finished call's <c>GetTrailers()</c>.
/// </summary>
public static class GatewayMetadata
{
    /// <summary>The normalized error class of a failed call (<c>rate_limited</c>, <c>budget_exceeded</c>, ...).</summary>
    public const string ErrorKindKey = "gateway-error-kind";

    /// <summary>How long to wait before retrying, in milliseconds (rate limits, overloaded upstreams).</summary>
    public const string RetryAfterKey = "retry-after-ms";

    /// <summary>The upstream attempts: <c>number:deployment:outcome[:error][:hedged][:fallback]</c>, comma-separated.</summary>
    public const string AttemptsKey = "gateway-attempts";

    /// <summary>The <c>gateway-error-kind</c> trailer, or null.</summary>
    public static string? GetGatewayErrorKind(this Metadata trailers)
    {
        ArgumentNullException.ThrowIfNull(trailers);
        return trailers.GetValue(ErrorKindKey) is { Length: > 0 } kind ? kind : null;
    }

    /// <summary>The <c>retry-after-ms</c> trailer as a duration, or null when absent or not a non-negative integer.</summary>
    public static TimeSpan? GetGatewayRetryAfter(this Metadata trailers)
    {
        ArgumentNullException.ThrowIfNull(trailers);
        return long.TryParse(trailers.GetValue(RetryAfterKey), NumberStyles.None, CultureInfo.InvariantCulture, out var millis)
            ? TimeSpan.FromMilliseconds(millis)
            : null;
    }

    /// <summary>The <c>gateway-attempts</c> trailer, parsed; empty when absent. Malformed entries are skipped.</summary>
    public static IReadOnlyList<GatewayAttempt> GetGatewayAttempts(this Metadata trailers)
    {
        ArgumentNullException.ThrowIfNull(trailers);
        var value = trailers.GetValue(AttemptsKey);
        if (string.IsNullOrEmpty(value))
        {
            return [];
        }

        var attempts = new List<GatewayAttempt>();
        foreach (var item in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = item.Split(':');
            if (parts.Length < 3 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                continue;
            }

            string? error = null;
            bool hedged = false, fallback = false;
            for (var i = 3; i < parts.Length; i++)
            {
                switch (parts[i])
                {
                    case "hedged":
                        hedged = true;
                        break;
                    case "fallback":
                        fallback = true;
                        break;
                    default:
                        error ??= parts[i];
                        break;
                }
            }

            attempts.Add(new GatewayAttempt(number, parts[1], parts[2], error, hedged, fallback));
        }

        return attempts;
    }
}
