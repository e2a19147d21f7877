using System.Net;
using System.Threading.RateLimiting;
using Gateway.Grpc.Console.Configuration;

namespace Gateway.Grpc.Console.Internal;

/// <summary>
/// Refused sign-ins per client address, in fixed windows (System.Threading.RateLimiting): once an
/// address has had <see cref="ConsoleOptions.SignInMaxFailures"/> refusals in a window, its
/// sign-ins answer 429 with <c>Retry-After</c> until the window ends, the right key included,
/// so guessing keys through the console is slow. Only refusals spend the allowance: an admin
/// who signs in correctly is never counted. Per replica and keyed by the connection's remote
/// address (behind a proxy that is the proxy's address: see the README).
/// </summary>
internal sealed class SignInThrottle : IDisposable
{
    private readonly PartitionedRateLimiter<IPAddress> _failures;

    public SignInThrottle(ConsoleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var window = TimeSpan.FromMinutes(options.SignInWindowMinutes);
        _failures = PartitionedRateLimiter.Create<IPAddress, IPAddress>(address => RateLimitPartition.GetFixedWindowLimiter(
            address,
            _ => new FixedWindowRateLimiterOptions
            {
                PermitLimit = options.SignInMaxFailures,
                Window = window,
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
    }

    /// <summary>Whether <paramref name="address"/> has used up its refusals; when it has, how long until it may try again.</summary>
    public bool IsLocked(IPAddress? address, out TimeSpan retryAfter)
    {
        // Asking for no permit never consumes one: it only says whether any are left, and a
        // refused lease says when the window ends.
        using var lease = _failures.AttemptAcquire(Key(address), 0);
        if (lease.IsAcquired)
        {
            retryAfter = TimeSpan.Zero;
            return false;
        }

        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromMinutes(1);
        return true;
    }

    /// <summary>Counts one refused sign-in from <paramref name="address"/>.</summary>
    public void RecordFailure(IPAddress? address)
    {
        using var lease = _failures.AttemptAcquire(Key(address));
    }

    public void Dispose() => _failures.Dispose();

    private static IPAddress Key(IPAddress? address)
        => address is null ? IPAddress.None : address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
