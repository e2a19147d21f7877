using Gateway.Grpc.Governance.Limits;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Gateway.Grpc.Governance.Tests.Limits;

/// <summary>Builds what the gateway builds for rateLimits.backend = redis, one replica at a time.</summary>
internal sealed class RedisLimits : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];

    /// <summary>
    /// A generous command timeout by default: the machine running the tests is shared, and only the
    /// failover tests are about timeouts (they pass a short one).
    /// </summary>
    public static RedisLimitSettings Settings(string endpoint, string? user = null, Func<string?>? password = null, int commandTimeoutMs = 5000) => new()
    {
        Endpoint = endpoint,
        User = user,
        Password = password,
        CommandTimeout = TimeSpan.FromMilliseconds(commandTimeoutMs),
    };

    /// <summary>One replica's shared backend: its own multiplexer, as in a separate gateway process.</summary>
    public RedisRateLimitBackend Replica(RedisLimitSettings settings)
    {
        var connection = new RedisLimitConnection(settings, NullLoggerFactory.Instance);
        _owned.Add(connection);
        return new RedisRateLimitBackend(connection);
    }

    public FailoverRateLimitBackend Failover(RedisLimitSettings settings, bool failOpen)
        => new(Replica(settings), new LocalRateLimitBackend(TimeProvider.System), failOpen, NullLogger<FailoverRateLimitBackend>.Instance);

    /// <summary>A plain client for the test itself, to look at or disturb the server behind the backend's back.</summary>
    public async Task<IDatabase> AdminAsync(string endpoint, string? user = null, string? password = null)
    {
        var options = ConfigurationOptions.Parse(endpoint);
        options.AllowAdmin = true;
        options.User = user;
        options.Password = password;
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
        _owned.Add(multiplexer);
        return multiplexer.GetDatabase();
    }

    public static LimitRequest Requests(string key, long limit, LimitAlgorithm algorithm = LimitAlgorithm.SlidingWindow)
        => new(key, LimitKind.Requests, limit, 1, algorithm, "");

    public static LimitRequest Tokens(string key, long limit, long amount, LimitAlgorithm algorithm = LimitAlgorithm.SlidingWindow)
        => new(key, LimitKind.Tokens, limit, amount, algorithm, "");

    public static LimitRequest Lease(string key, long limit, string leaseId)
        => new(key, LimitKind.Concurrency, limit, 1, LimitAlgorithm.SlidingWindow, leaseId);

    public static string UniqueKey(string name) => name + ":" + Guid.NewGuid().ToString("N")[..8];

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }
    }
}
