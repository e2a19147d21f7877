using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Gateway.Grpc.Caching.Internal;

/// <summary>Where the shared cache lives (<c>cache.redis</c>), with the password already resolved.</summary>
internal sealed class RedisCacheSettings
{
    public string Endpoint { get; init; } = "127.0.0.1:6379";

    public string? User { get; init; }

    public string? Password { get; init; }

    public int Database { get; init; }

    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>
/// The cache's own multiplexer (the cache and the rate limits may sit on different Redis
/// servers, and the cache needs pub/sub, which the limits connection turns off). Connecting never
/// blocks start-up or a call: until the first connect succeeds every lookup is a miss.
/// </summary>
internal sealed partial class RedisCacheConnection : IAsyncDisposable
{
    private readonly ConfigurationOptions _options;
    private readonly ILogger _logger;
    private readonly Lazy<Task<ConnectionMultiplexer>> _connect;

    public RedisCacheConnection(RedisCacheSettings settings, ILoggerFactory loggerFactory)
    {
        _options = CreateOptions(settings);
        _options.LoggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<RedisCacheConnection>();
        _connect = new Lazy<Task<ConnectionMultiplexer>>(ConnectAsync);
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the problem (checked at start-up).</summary>
    internal static ConfigurationOptions CreateOptions(RedisCacheSettings settings)
    {
        var endpoint = string.IsNullOrWhiteSpace(settings.Endpoint) ? null : EndPointCollection.TryParse(settings.Endpoint);
        if (endpoint is null)
        {
            throw new ArgumentException($"endpoint '{settings.Endpoint}' is not a Redis endpoint; use host:port such as 127.0.0.1:6379.");
        }

        var timeoutMs = (int)settings.CommandTimeout.TotalMilliseconds;
        if (timeoutMs <= 0)
        {
            throw new ArgumentException($"commandTimeoutMs is {timeoutMs}; it must be positive (250 is a good start).");
        }

        if (settings.Database < 0)
        {
            throw new ArgumentException($"database is {settings.Database}; it must be 0 or more.");
        }

        return new ConfigurationOptions
        {
            EndPoints = { endpoint },
            User = settings.User,
            Password = settings.Password,
            DefaultDatabase = settings.Database,
            ClientName = "llm-gateway-cache",
            TieBreaker = string.Empty,
            AbortOnConnectFail = false,
            ConnectTimeout = Math.Max(timeoutMs, 1000),
            ConnectRetry = 3,
            SyncTimeout = timeoutMs,
            AsyncTimeout = timeoutMs,
            BacklogPolicy = BacklogPolicy.FailFast,
            KeepAlive = 10,
            ReconnectRetryPolicy = new ExponentialRetry(50, 2000),
        };
    }

    /// <summary>The multiplexer once connected; starts connecting on first use.</summary>
    public Task<ConnectionMultiplexer> Multiplexer => _connect.Value;

    /// <summary>The database when connected, else null (the caller treats that as a miss).</summary>
    public async ValueTask<IDatabase?> TryGetDatabaseAsync()
    {
        var connect = _connect.Value;
        if (!connect.IsCompleted)
        {
            // Give the first connect a moment (a cold process needs a few hundred ms), then miss.
            await Task.WhenAny(connect, Task.Delay(_options.AsyncTimeout)).ConfigureAwait(false);
            if (!connect.IsCompleted)
            {
                return null;
            }
        }

        if (!connect.IsCompletedSuccessfully)
        {
            return null;
        }

        var multiplexer = connect.Result;
        return multiplexer.IsConnected ? multiplexer.GetDatabase() : null;
    }

    public void LogFailure(string operation, Exception ex) => Log.RedisFailed(_logger, operation, ex.GetType().Name, ex.Message);

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(_options).ConfigureAwait(false);
        }
        catch (RedisException ex)
        {
            LogFailure("connect", ex);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connect.IsValueCreated && _connect.Value.IsCompletedSuccessfully)
        {
            await _connect.Value.Result.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1201, LogLevel.Warning, "Response cache: Redis {Operation} failed ({Error}: {Message}); treated as a miss.", EventName = "CacheRedisFailed")]
        public static partial void RedisFailed(ILogger logger, string operation, string error, string message);
    }
}
