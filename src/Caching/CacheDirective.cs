using System.Globalization;

namespace Gateway.Grpc.Caching;

/// <summary>
/// The caller's per-request cache control: the <c>cache</c> header (gRPC metadata or HTTP
/// header), a comma-separated list of <c>no-cache</c> (do not serve from the cache; the fresh
/// answer is still stored), <c>no-store</c> (do not store this answer) and <c>ttl=N</c> (keep
/// this answer N seconds).
/// </summary>
internal readonly record struct CacheDirective(bool NoCache, bool NoStore, int? TtlSeconds)
{
    public const string HeaderName = "cache";

    public static CacheDirective None => default;

    /// <summary>Parses the header; false with a message naming the fix when it is not understood.</summary>
    public static bool TryParse(string? header, int maxTtlSeconds, out CacheDirective directive, out string? error)
    {
        directive = default;
        error = null;
        if (string.IsNullOrWhiteSpace(header))
        {
            return true;
        }

        bool noCache = false, noStore = false;
        int? ttl = null;
        foreach (var raw in header.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (raw.Equals("no-cache", StringComparison.OrdinalIgnoreCase))
            {
                noCache = true;
            }
            else if (raw.Equals("no-store", StringComparison.OrdinalIgnoreCase))
            {
                noStore = true;
            }
            else if (raw.StartsWith("ttl=", StringComparison.OrdinalIgnoreCase))
            {
                var value = raw[4..];
                if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds < 1)
                {
                    error = $"cache: 'ttl={value}' is not a whole number of seconds >= 1.";
                    return false;
                }

                if (seconds > maxTtlSeconds)
                {
                    error = $"cache: ttl={seconds} exceeds the maximum of {maxTtlSeconds} seconds (cache.maxTtlSeconds).";
                    return false;
                }

                ttl = seconds;
            }
            else
            {
                error = $"cache: '{Truncate(raw)}' is not understood; use no-cache, no-store or ttl=N (seconds), comma-separated.";
                return false;
            }
        }

        directive = new CacheDirective(noCache, noStore, ttl);
        return true;
    }

    private static string Truncate(string value) => value.Length <= 40 ? value : value[..40] + "...";
}
