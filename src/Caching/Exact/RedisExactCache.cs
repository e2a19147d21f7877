using Gateway.Grpc.Caching.Internal;
using StackExchange.Redis;

namespace Gateway.Grpc.Caching.Exact;

/// <summary>
/// Answers in Redis under <c>gw:cache:x:{key}</c> with Redis's own expiry, so every replica
/// sees every answer. Redis's <c>maxmemory</c> policy bounds it (set <c>allkeys-lru</c> on a
/// Redis that only caches). A Redis that is down or slow is a miss and stores nothing.
/// </summary>
internal sealed class RedisExactCache(RedisCacheConnection connection) : IExactCacheStore
{
    public const string Prefix = "gw:cache:x:";

    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var db = await connection.TryGetDatabaseAsync().ConfigureAwait(false);
            if (db is null)
            {
                return null;
            }

            var value = await db.StringGetAsync(Prefix + key).ConfigureAwait(false);
            return value.IsNull ? null : (byte[]?)value;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            connection.LogFailure("GET", ex);
            return null;
        }
    }

    public async ValueTask SetAsync(string key, byte[] value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        try
        {
            var db = await connection.TryGetDatabaseAsync().ConfigureAwait(false);
            if (db is not null)
            {
                await db.StringSetAsync(Prefix + key, value, ttl).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            connection.LogFailure("SET", ex);
        }
    }
}
