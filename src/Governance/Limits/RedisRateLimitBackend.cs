using System.Globalization;
using Gateway.Grpc.Redis;

namespace Gateway.Grpc.Governance.Limits;

/// <summary>
/// Limit counters shared by every replica through Redis. Each decision is one atomic Lua script
/// that reads Redis's own clock (TIME), so replicas with skewed clocks still agree.
/// </summary>
public sealed class RedisRateLimitBackend(RedisConnection redis, string keyPrefix = "gw:rl:") : IRateLimitBackend
{
    private const long WindowMicros = 60_000_000;
    private static readonly TimeSpan LeaseLifetime = TimeSpan.FromMinutes(10);

    // GCRA: the stored value is the theoretical arrival time in microseconds.
    private static readonly LuaScript GcraAcquire = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local window = tonumber(ARGV[1])
        local interval = window / tonumber(ARGV[2])
        local amount = tonumber(ARGV[3])
        local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tat < now then tat = now end
        local new = tat + amount * interval
        if new - now > window then
          return {0, math.floor((window - (tat - now)) / interval), math.ceil(new - now - window), math.ceil(tat - now), 0}
        end
        redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1000)
        return {1, math.floor((window - (new - now)) / interval), 0, math.ceil(new - now), 0}
        """);

    private static readonly LuaScript GcraAdjust = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local interval = tonumber(ARGV[1]) / tonumber(ARGV[2])
        local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
        local new = tat + tonumber(ARGV[3]) * interval
        if new < now then new = now end
        redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000) + 1000)
        return 1
        """);

    // Sliding window: a hash of one-second buckets; the last 60 s must stay under the limit.
    private static readonly LuaScript SlidingAcquire = LuaScript.Prepare("""
        local sec = tonumber(redis.call('TIME')[1])
        local limit = tonumber(ARGV[1])
        local amount = tonumber(ARGV[2])
        local vals = redis.call('HGETALL', KEYS[1])
        local used = 0
        local oldest = sec
        for i = 1, #vals, 2 do
          local s = tonumber(vals[i])
          local c = tonumber(vals[i + 1])
          if sec - s < 60 then
            used = used + c
            if c > 0 and s < oldest then oldest = s end
          else
            redis.call('HDEL', KEYS[1], vals[i])
          end
        end
        local reset = (oldest + 60 - sec) * 1000000
        if used + amount > limit then
          return {0, limit - used, reset, reset, 0}
        end
        redis.call('HINCRBY', KEYS[1], sec, amount)
        redis.call('EXPIRE', KEYS[1], 120)
        return {1, limit - used - amount, 0, reset, sec}
        """);

    private static readonly LuaScript SlidingAdjust = LuaScript.Prepare("""
        local current = redis.call('HGET', KEYS[1], ARGV[1])
        if not current then return 0 end
        local new = tonumber(current) + tonumber(ARGV[2])
        if new < 0 then new = 0 end
        redis.call('HSET', KEYS[1], ARGV[1], new)
        return 1
        """);

    // Concurrency: a sorted set of leases scored by expiry, so a crashed replica's leases lapse.
    private static readonly LuaScript LeaseAcquire = LuaScript.Prepare("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local count = redis.call('ZCARD', KEYS[1])
        if count >= tonumber(ARGV[1]) then return {0, 0, 1000000, 0, 0} end
        redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
        redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
        return {1, tonumber(ARGV[1]) - count - 1, 0, 0, 0}
        """);

    public string Name => "redis";

    public async ValueTask<LimitResult> TryAcquireAsync(LimitRequest request, CancellationToken cancellationToken)
    {
        var key = keyPrefix + request.Key;
        RedisResult result;
        if (request.Kind == LimitKind.Concurrency)
        {
            result = await redis.ScriptEvaluateAsync(LeaseAcquire, [key], [request.Limit, request.LeaseId, (long)LeaseLifetime.TotalMilliseconds], cancellationToken).ConfigureAwait(false);
        }
        else if (request.Algorithm == LimitAlgorithm.Gcra)
        {
            result = await redis.ScriptEvaluateAsync(GcraAcquire, [key], [WindowMicros, request.Limit, request.Amount], cancellationToken).ConfigureAwait(false);
        }
        else
        {
            result = await redis.ScriptEvaluateAsync(SlidingAcquire, [key], [request.Limit, request.Amount], cancellationToken).ConfigureAwait(false);
        }

        return new LimitResult(
            result[0].AsInt64() == 1,
            Math.Max(0, result[1].AsInt64()),
            TimeSpan.FromTicks(result[2].AsInt64() * 10),
            TimeSpan.FromTicks(result[3].AsInt64() * 10),
            result[4].AsInt64());
    }

    public async ValueTask AdjustTokensAsync(string key, long limit, LimitAlgorithm algorithm, long reservation, long delta, CancellationToken cancellationToken)
    {
        if (delta == 0)
        {
            return;
        }

        if (algorithm == LimitAlgorithm.Gcra)
        {
            await redis.ScriptEvaluateAsync(GcraAdjust, [keyPrefix + key], [WindowMicros, limit, delta], cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await redis.ScriptEvaluateAsync(SlidingAdjust, [keyPrefix + key], [reservation.ToString(CultureInfo.InvariantCulture), delta], cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask ReleaseAsync(string key, string leaseId, CancellationToken cancellationToken)
        => await redis.ExecuteAsync("ZREM", [keyPrefix + key, leaseId], cancellationToken).ConfigureAwait(false);
}
