using System.Globalization;
using StackExchange.Redis;

namespace Gateway.Grpc.Governance.Limits;

/// <summary>
/// Limit counters shared by every replica through Redis. Each decision is one atomic Lua script
/// that reads Redis's own clock (TIME), so replicas with skewed clocks still agree. Scripts go
/// through StackExchange.Redis's <see cref="LuaScript"/>: named parameters, sent by SHA1
/// (EVALSHA) once the server has them, and sent again in full after a restart flushed them.
/// Connection failures and timeouts surface as the library's <see cref="RedisConnectionException"/>
/// and <see cref="RedisTimeoutException"/> (see <see cref="FailoverRateLimitBackend"/>).
/// </summary>
internal sealed class RedisRateLimitBackend(RedisLimitConnection redis, string keyPrefix = "gw:rl:") : IRateLimitBackend
{
    private const long WindowMicros = 60_000_000;
    private static readonly TimeSpan LeaseLifetime = TimeSpan.FromMinutes(10);

    // GCRA: the stored value is the theoretical arrival time in microseconds.
    private static readonly LuaScript GcraAcquire = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local window = tonumber(@window)
        local interval = window / tonumber(@limit)
        local amount = tonumber(@amount)
        local tat = tonumber(redis.call('GET', @key) or '0')
        if tat < now then tat = now end
        local new = tat + amount * interval
        if new - now > window then
          return {0, math.floor((window - (tat - now)) / interval), math.ceil(new - now - window), math.ceil(tat - now), 0}
        end
        redis.call('SET', @key, string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1000)
        return {1, math.floor((window - (new - now)) / interval), 0, math.ceil(new - now), 0}
        """);

    private static readonly LuaScript GcraAdjust = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local interval = tonumber(@window) / tonumber(@limit)
        local tat = tonumber(redis.call('GET', @key) or '0')
        local new = tat + tonumber(@delta) * interval
        if new < now then new = now end
        redis.call('SET', @key, string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1000)
        return 1
        """);

    // Sliding window: a hash of one-second buckets; the last 60 s must stay under the limit.
    private static readonly LuaScript SlidingAcquire = LuaScript.Prepare("""
        local sec = tonumber(redis.call('TIME')[1])
        local limit = tonumber(@limit)
        local amount = tonumber(@amount)
        local vals = redis.call('HGETALL', @key)
        local used = 0
        local oldest = sec
        for i = 1, #vals, 2 do
          local s = tonumber(vals[i])
          local c = tonumber(vals[i + 1])
          if sec - s < 60 then
            used = used + c
            if c > 0 and s < oldest then oldest = s end
          else
            redis.call('HDEL', @key, vals[i])
          end
        end
        local reset = (oldest + 60 - sec) * 1000000
        if used + amount > limit then
          return {0, limit - used, reset, reset, 0}
        end
        redis.call('HINCRBY', @key, sec, amount)
        redis.call('EXPIRE', @key, 120)
        return {1, limit - used - amount, 0, reset, sec}
        """);

    private static readonly LuaScript SlidingAdjust = LuaScript.Prepare("""
        local current = redis.call('HGET', @key, @second)
        if not current then return 0 end
        local new = tonumber(current) + tonumber(@delta)
        if new < 0 then new = 0 end
        redis.call('HSET', @key, @second, new)
        return 1
        """);

    // Concurrency: a sorted set of leases scored by expiry, so a crashed replica's leases lapse.
    private static readonly LuaScript LeaseAcquire = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZREMRANGEBYSCORE', @key, '-inf', now)
        local count = redis.call('ZCARD', @key)
        if count >= tonumber(@limit) then return {0, 0, 1000000, 0, 0} end
        redis.call('ZADD', @key, now + tonumber(@lifetime), @lease)
        redis.call('PEXPIRE', @key, tonumber(@lifetime))
        return {1, tonumber(@limit) - count - 1, 0, 0, 0}
        """);

    public string Name => "redis";

    public async ValueTask<LimitResult> TryAcquireAsync(LimitRequest request, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        RedisKey key = keyPrefix + request.Key;
        Task<RedisResult> evaluation;
        if (request.Kind == LimitKind.Concurrency)
        {
            evaluation = db.ScriptEvaluateAsync(LeaseAcquire, new { key, limit = request.Limit, lease = request.LeaseId, lifetime = (long)LeaseLifetime.TotalMilliseconds });
        }
        else if (request.Algorithm == LimitAlgorithm.Gcra)
        {
            evaluation = db.ScriptEvaluateAsync(GcraAcquire, new { key, window = WindowMicros, limit = request.Limit, amount = request.Amount });
        }
        else
        {
            evaluation = db.ScriptEvaluateAsync(SlidingAcquire, new { key, limit = request.Limit, amount = request.Amount });
        }

        // The library takes no token: a cancelled caller stops waiting, the script still runs once.
        var values = (long[])(await evaluation.WaitAsync(cancellationToken).ConfigureAwait(false))!;
        return new LimitResult(
            values[0] == 1,
            Math.Max(0, values[1]),
            TimeSpan.FromTicks(values[2] * 10),
            TimeSpan.FromTicks(values[3] * 10),
            values[4]);
    }

    public async ValueTask AdjustTokensAsync(string key, long limit, LimitAlgorithm algorithm, long reservation, long delta, CancellationToken cancellationToken)
    {
        if (delta == 0)
        {
            return;
        }

        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        RedisKey redisKey = keyPrefix + key;
        var evaluation = algorithm == LimitAlgorithm.Gcra
            ? db.ScriptEvaluateAsync(GcraAdjust, new { key = redisKey, window = WindowMicros, limit, delta })
            : db.ScriptEvaluateAsync(SlidingAdjust, new { key = redisKey, second = reservation.ToString(CultureInfo.InvariantCulture), delta });
        await evaluation.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask ReleaseAsync(string key, string leaseId, CancellationToken cancellationToken)
    {
        var db = await redis.GetDatabaseAsync(cancellationToken).ConfigureAwait(false);
        await db.SortedSetRemoveAsync(keyPrefix + key, leaseId).WaitAsync(cancellationToken).ConfigureAwait(false);
    }
}
