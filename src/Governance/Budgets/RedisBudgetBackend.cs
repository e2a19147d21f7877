using Gateway.Grpc.Governance.Limits;
using StackExchange.Redis;

namespace Gateway.Grpc.Governance.Budgets;

/// <summary>What Redis answered to a reservation.</summary>
internal enum SharedReserveOutcome
{
    /// <summary>The scope's counter for the period is not seeded from the ledger yet (first use, or Redis lost it).</summary>
    Unseeded = -1,
    Refused = 0,
    Reserved = 1,
}

/// <summary>
/// Budget counters shared by every replica through Redis, in nano-dollars (integers, so Lua adds
/// them exactly; a budget of 9 million US$ still fits a double's 53 bits). Per scope and month:
/// <list type="bullet">
/// <item><c>gw:bg:{scope:period}</c>, a hash: <c>spent</c> (settled cost), <c>reserved</c> (the sum of
/// live reservations), <c>seeded</c> (present once <c>spent</c> was set from the ledger);</item>
/// <item><c>...:holds</c>, a sorted set of reservation ids scored by expiry (ms, Redis's clock), and
/// <c>...:amounts</c>, a hash id → amount: a replica that dies with calls in flight leaves
/// reservations that lapse by themselves after the reservation lifetime.</item>
/// </list>
/// Each step is one Lua script (atomic): reserve = drop lapsed reservations, refuse when
/// spent + reserved reaches the budget, else add this one; settle = reservation out, actual cost in.
/// A counter Redis does not have (flushed, restarted without persistence, a new month) is
/// "unseeded": the caller seeds it from the store's ledger sum before using it, and settles on it
/// do not count (their rows are in the ledger, which the next reconciliation reads).
/// </summary>
internal sealed class RedisBudgetBackend(RedisLimitConnection redis, TimeSpan reservationLifetime, string keyPrefix = "gw:bg:")
{
    /// <summary>Counters outlive their month by a few days (late settlements, reports), then Redis drops them.</summary>
    private static readonly long KeepMs = (long)TimeSpan.FromDays(40).TotalMilliseconds;

    private static readonly LuaScript Reserve = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local lapsed = redis.call('ZRANGEBYSCORE', @holds, '-inf', now, 'LIMIT', 0, 256)
        for _, id in ipairs(lapsed) do
          local amount = redis.call('HGET', @amounts, id)
          if amount then
            redis.call('HINCRBY', @key, 'reserved', -tonumber(amount))
            redis.call('HDEL', @amounts, id)
          end
          redis.call('ZREM', @holds, id)
        end
        if redis.call('HEXISTS', @key, 'seeded') == 0 then return {-1, 0, 0} end
        local spent = tonumber(redis.call('HGET', @key, 'spent') or '0')
        local reserved = tonumber(redis.call('HGET', @key, 'reserved') or '0')
        if reserved < 0 then reserved = 0 end
        if spent + reserved >= tonumber(@budget) then return {0, spent, reserved} end
        local amount = tonumber(@amount)
        redis.call('ZADD', @holds, now + tonumber(@lifetime), @id)
        redis.call('HSET', @amounts, @id, @amount)
        redis.call('HINCRBY', @key, 'reserved', @amount)
        redis.call('PEXPIRE', @key, @keep)
        redis.call('PEXPIRE', @holds, @keep)
        redis.call('PEXPIRE', @amounts, @keep)
        return {1, spent, reserved + amount}
        """);

    // The reservation (if still there: it may have lapsed) goes out, the cost comes in.
    private static readonly LuaScript Settle = LuaScript.Prepare("""
        local amount = redis.call('HGET', @amounts, @id)
        if amount then
          redis.call('HINCRBY', @key, 'reserved', -tonumber(amount))
          redis.call('HDEL', @amounts, @id)
          redis.call('ZREM', @holds, @id)
        end
        if redis.call('HEXISTS', @key, 'seeded') == 0 then return {-1, 0, 0} end
        local before = tonumber(redis.call('HGET', @key, 'spent') or '0')
        local after = before
        if tonumber(@cost) > 0 then
          after = redis.call('HINCRBY', @key, 'spent', @cost)
          redis.call('PEXPIRE', @key, @keep)
        end
        return {1, before, after}
        """);

    // Seeding and reconciliation: spent becomes the ledger's sum when unseeded, and never stays below
    // it (a settlement Redis missed while it was down or unseeded is in the ledger).
    private static readonly LuaScript Reconcile = LuaScript.Prepare("""
        local ledger = tonumber(@ledger)
        local spent = tonumber(redis.call('HGET', @key, 'spent') or '0')
        if redis.call('HEXISTS', @key, 'seeded') == 0 or spent < ledger then
          redis.call('HSET', @key, 'spent', @ledger)
          spent = ledger
        end
        redis.call('HSET', @key, 'seeded', 1)
        redis.call('PEXPIRE', @key, @keep)
        return spent
        """);

    private const decimal NanosPerUsd = 1_000_000_000m;

    public static long ToNanos(decimal usd) => (long)Math.Round(Math.Max(usd, 0m) * NanosPerUsd, MidpointRounding.AwayFromZero);

    public static decimal FromNanos(long nanos) => nanos / NanosPerUsd;

    public async ValueTask<(SharedReserveOutcome Outcome, long Spent, long Reserved)> TryReserveAsync(string scope, string period, long budget, long amount, string id, CancellationToken cancellationToken)
    {
        var (key, holds, amounts) = Keys(scope, period);
        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var values = (long[])(await db.ScriptEvaluateAsync(Reserve, new { key, holds, amounts, budget, amount, id, lifetime = (long)reservationLifetime.TotalMilliseconds, keep = KeepMs })
            .WaitAsync(cancellationToken).ConfigureAwait(false))!;
        return ((SharedReserveOutcome)values[0], values[1], values[2]);
    }

    /// <summary>Replaces reservation <paramref name="id"/> ("" for none) with <paramref name="cost"/>; null when the counter is unseeded.</summary>
    public async ValueTask<(long Before, long After)?> SettleAsync(string scope, string period, string id, long cost, CancellationToken cancellationToken)
    {
        var (key, holds, amounts) = Keys(scope, period);
        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var values = (long[])(await db.ScriptEvaluateAsync(Settle, new { key, holds, amounts, id, cost, keep = KeepMs })
            .WaitAsync(cancellationToken).ConfigureAwait(false))!;
        return values[0] == 1 ? (values[1], values[2]) : null;
    }

    /// <summary>Seeds the counter from the ledger, or raises it to the ledger's sum; returns the counter.</summary>
    public async ValueTask<long> ReconcileAsync(string scope, string period, long ledger, CancellationToken cancellationToken)
    {
        var (key, _, _) = Keys(scope, period);
        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        return (long)(await db.ScriptEvaluateAsync(Reconcile, new { key, ledger, keep = KeepMs }).WaitAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>The shared spend, or null when the counter is not seeded.</summary>
    public async ValueTask<long?> GetSpentAsync(string scope, string period, CancellationToken cancellationToken)
    {
        var (key, _, _) = Keys(scope, period);
        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        var values = await db.HashGetAsync(key, ["seeded", "spent"]).WaitAsync(cancellationToken).ConfigureAwait(false);
        return values[0].IsNull ? null : values[1].IsNull ? 0 : (long)values[1];
    }

    private (RedisKey Key, RedisKey Holds, RedisKey Amounts) Keys(string scope, string period)
    {
        // One hash tag for the three keys: a script's keys must live in one slot on Redis Cluster.
        var key = keyPrefix + "{" + scope + ":" + period + "}";
        return (key, key + ":holds", key + ":amounts");
    }
}
