using System.Globalization;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;

namespace Gateway.Grpc.Adapters.Http;

/// <summary>Reads how long a provider asked us to wait, from headers or from the error body.</summary>
internal static partial class RetryAfter
{
    private static readonly TimeSpan Max = TimeSpan.FromHours(1);

    /// <summary>
    /// <c>retry-after-ms</c> (milliseconds, OpenAI and Azure) wins over <c>Retry-After</c>
    /// (RFC 9110 §10.2.3: delay-seconds or an HTTP-date, taken relative to <paramref name="now"/>).
    /// </summary>
    public static TimeSpan? FromHeaders(HttpResponseHeaders headers, DateTimeOffset now)
    {
        if (headers.TryGetValues("retry-after-ms", out var msValues))
        {
            foreach (var v in msValues)
            {
                if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && ms >= 0 && double.IsFinite(ms))
                {
                    return Clamp(TimeSpan.FromMilliseconds(ms));
                }
            }
        }

        if (headers.TryGetValues("Retry-After", out var values))
        {
            foreach (var v in values)
            {
                var parsed = Parse(v, now);
                if (parsed is not null)
                {
                    return parsed;
                }
            }
        }

        return null;
    }

    /// <summary>One <c>Retry-After</c> value: seconds (fractions tolerated) or an HTTP-date.</summary>
    public static TimeSpan? Parse(string? value, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        value = value.Trim();
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            return seconds >= 0 && double.IsFinite(seconds) ? Clamp(TimeSpan.FromSeconds(seconds)) : null;
        }

        if (DateTimeOffset.TryParseExact(value, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date)
            || DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out date))
        {
            var delay = date - now;
            return delay > TimeSpan.Zero ? Clamp(delay) : TimeSpan.Zero;
        }

        return null;
    }

    /// <summary>
    /// Hints in error messages: OpenAI "Please try again in 6.5s" / "in 120ms" / "in 1m30s";
    /// Google RetryInfo <c>retryDelay</c> "37s" / "0.5s" (pass that value directly).
    /// </summary>
    public static TimeSpan? FromMessage(string? message)
    {
        if (string.IsNullOrEmpty(message))
        {
            return null;
        }

        var match = TryAgainPattern().Match(message);
        return match.Success ? ParseDuration(match.Groups["d"].Value) : null;
    }

    /// <summary>A Go/protobuf-style duration: "1m30s", "6.5s", "120ms", "37s".</summary>
    public static TimeSpan? ParseDuration(string text)
    {
        var total = TimeSpan.Zero;
        var any = false;
        foreach (Match part in DurationPart().Matches(text))
        {
            if (!double.TryParse(part.Groups["n"].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n))
            {
                return null;
            }

            total += part.Groups["u"].Value switch
            {
                "ms" => TimeSpan.FromMilliseconds(n),
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                _ => TimeSpan.Zero,
            };
            any = true;
        }

        return any ? Clamp(total) : null;
    }

    private static TimeSpan Clamp(TimeSpan value) => value > Max ? Max : value;

    [GeneratedRegex(@"(?:try again|retry) (?:in|after) (?<d>(?:\d+(?:\.\d+)?(?:ms|h|m|s))+)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex TryAgainPattern();

    [GeneratedRegex(@"(?<n>\d+(?:\.\d+)?)(?<u>ms|h|m|s)", RegexOptions.CultureInvariant)]
    private static partial Regex DurationPart();
}
