using Grpc.Core;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Gateway.Grpc.Governance.Limits;

/// <summary>
/// Shared limits through Redis, with a local fallback: when Redis cannot be reached, fail-open
/// serves on this replica's own counters (and says so in the log), fail-closed refuses with
/// UNAVAILABLE. "Cannot be reached" is what StackExchange.Redis reports as a connection failure
/// (not connected, connection lost, handshake or AUTH failed) or a timeout; an error reply from
/// Redis (<see cref="RedisServerException"/>, e.g. a script error) is a bug and propagates.
/// </summary>
public sealed partial class FailoverRateLimitBackend(IRateLimitBackend shared, IRateLimitBackend local, bool failOpen, ILogger<FailoverRateLimitBackend> logger) : IRateLimitBackend
{
    private int _degraded;

    public string Name => shared.Name;

    /// <summary>True while decisions are made on local counters because Redis is unreachable.</summary>
    public bool IsDegraded => Volatile.Read(ref _degraded) == 1;

    public async ValueTask<LimitResult> TryAcquireAsync(LimitRequest request, CancellationToken cancellationToken)
    {
        try
        {
            var result = await shared.TryAcquireAsync(request, cancellationToken).ConfigureAwait(false);
            Recovered();
            return result;
        }
        catch (Exception ex) when (IsUnreachable(ex))
        {
            Degraded(ex);
            if (!failOpen)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "Rate limits cannot be checked: the shared limit store (Redis) is unreachable and rateLimits.failOpen is false."));
            }

            return await local.TryAcquireAsync(request, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask AdjustTokensAsync(string key, long limit, LimitAlgorithm algorithm, long reservation, long delta, CancellationToken cancellationToken)
    {
        try
        {
            await shared.AdjustTokensAsync(key, limit, algorithm, reservation, delta, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnreachable(ex))
        {
            Degraded(ex);
            await local.AdjustTokensAsync(key, limit, algorithm, reservation, delta, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask ReleaseAsync(string key, string leaseId, CancellationToken cancellationToken)
    {
        try
        {
            await shared.ReleaseAsync(key, leaseId, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnreachable(ex))
        {
            Degraded(ex);
        }

        await local.ReleaseAsync(key, leaseId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True for the library's connection and timeout failures, the ones a fallback can answer.</summary>
    internal static bool IsUnreachable(Exception exception)
        => exception is RedisConnectionException or RedisTimeoutException;

    private void Degraded(Exception ex)
    {
        if (Interlocked.Exchange(ref _degraded, 1) == 0)
        {
            if (failOpen)
            {
                Log.ServingOnLocalLimits(logger, ex);
            }
            else
            {
                Log.RefusingWithoutRedis(logger, ex);
            }
        }
    }

    private void Recovered()
    {
        if (Interlocked.Exchange(ref _degraded, 0) == 1)
        {
            Log.Recovered(logger);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(330, LogLevel.Error, "Redis is unreachable: serving on local rate limits (each replica counts alone) until it is back.", EventName = "ServingOnLocalLimits")]
        public static partial void ServingOnLocalLimits(ILogger logger, Exception exception);

        [LoggerMessage(331, LogLevel.Error, "Redis is unreachable: refusing calls (rateLimits.failOpen is false).", EventName = "RefusingWithoutRedis")]
        public static partial void RefusingWithoutRedis(ILogger logger, Exception exception);

        [LoggerMessage(332, LogLevel.Warning, "Redis is reachable again: shared rate limits restored.", EventName = "SharedLimitsRestored")]
        public static partial void Recovered(ILogger logger);
    }
}
