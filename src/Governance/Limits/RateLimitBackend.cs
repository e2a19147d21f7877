namespace Gateway.Grpc.Governance.Limits;

public enum LimitKind
{
    Requests,
    Tokens,
    Concurrency,
}

public enum LimitAlgorithm
{
    /// <summary>Generic cell rate algorithm: a token bucket holding one minute's allowance, refilled continuously.</summary>
    Gcra,

    /// <summary>A 60-second window of one-second buckets: the sum of the last 60 s must stay under the limit.</summary>
    SlidingWindow,
}

/// <summary>One limit to check: a counter key, its limit per minute (or concurrent), and the amount to take.</summary>
public readonly record struct LimitRequest(string Key, LimitKind Kind, long Limit, long Amount, LimitAlgorithm Algorithm, string LeaseId);

/// <summary>The answer: allowed or not, what remains, and when to retry / when the window resets.</summary>
public readonly record struct LimitResult(bool Allowed, long Remaining, TimeSpan RetryAfter, TimeSpan Reset, long Reservation);

/// <summary>
/// Where limit counters live: in this process (single node) or in Redis (shared by replicas,
/// atomic Lua scripts). Both implement the same algorithms.
/// </summary>
public interface IRateLimitBackend
{
    /// <summary>"local" or "redis".</summary>
    string Name { get; }

    ValueTask<LimitResult> TryAcquireAsync(LimitRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Corrects a token reservation by <paramref name="delta"/> (actual minus estimate; negative
    /// returns capacity), identified by the reservation the acquire returned.
    /// </summary>
    ValueTask AdjustTokensAsync(string key, long limit, LimitAlgorithm algorithm, long reservation, long delta, CancellationToken cancellationToken);

    /// <summary>Ends a concurrency lease.</summary>
    ValueTask ReleaseAsync(string key, string leaseId, CancellationToken cancellationToken);
}
