using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Gateway.Grpc.Governance.Limits;

/// <summary>Where the shared limit counters live (configuration key <c>rateLimits:redis</c>).</summary>
internal sealed class RedisLimitSettings
{
    /// <summary><c>host:port</c>, <c>[v6]:port</c> or <c>host</c> (port 6379).</summary>
    public string Endpoint { get; init; } = "127.0.0.1:6379";

    /// <summary>ACL user; null authenticates as the <c>default</c> user.</summary>
    public string? User { get; init; }

    /// <summary>
    /// Returns the current password (null for none). Called before the first connection and again
    /// after every connection failure, so a rotated secret is used by the next reconnection.
    /// </summary>
    public Func<string?>? Password { get; init; }

    public int Database { get; init; }

    /// <summary>A limit decision waits at most this long for Redis before failing over.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>
/// The process's one StackExchange.Redis <see cref="ConnectionMultiplexer"/> for shared limits.
/// Start-up never waits for it: as a hosted service it starts connecting in the background, and
/// otherwise the first decision does. Decisions wait for that first connect (a cold process needs
/// seconds for the handshake), at most until the library gives up on it; after that a gateway whose
/// Redis is down follows failOpen / failClosed at once while the multiplexer keeps reconnecting.
/// </summary>
internal sealed partial class RedisLimitConnection : IHostedService, IAsyncDisposable
{
    private const string ClientName = "llm-gateway";

    private readonly RedisLimitSettings _settings;
    private readonly ConfigurationOptions _options;
    private readonly ILogger _logger;
    private readonly TimeSpan _firstConnectTimeout;
    private ConnectAttempt? _connect;
    private int _disposed;

    public RedisLimitConnection(RedisLimitSettings settings, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _settings = settings;
        _options = CreateOptions(settings, loggerFactory);
        _logger = loggerFactory.CreateLogger<RedisLimitConnection>();
        // The library's own bound on the first connect: each of its attempts gets the connect timeout.
        _firstConnectTimeout = TimeSpan.FromMilliseconds((long)_options.ConnectTimeout * Math.Max(1, _options.ConnectRetry));
    }

    /// <summary>
    /// The library's settings for <paramref name="settings"/>. Throws <see cref="ArgumentException"/>
    /// naming the problem when the endpoint or a number is invalid (checked at start-up).
    /// </summary>
    internal static ConfigurationOptions CreateOptions(RedisLimitSettings settings, ILoggerFactory? loggerFactory = null)
    {
        var endpoint = string.IsNullOrWhiteSpace(settings.Endpoint) ? null : EndPointCollection.TryParse(settings.Endpoint);
        if (endpoint is null)
        {
            throw new ArgumentException($"endpoint '{settings.Endpoint}' is not a Redis endpoint; use host:port such as 127.0.0.1:6379 ([::1]:6379 for IPv6).");
        }

        if (settings.Database < 0)
        {
            throw new ArgumentException($"database is {settings.Database}; it must be 0 or more.");
        }

        if (settings.User is not null && settings.Password is null)
        {
            throw new ArgumentException($"user '{settings.User}' is set without a password; AUTH needs both (set password to env:NAME or file:/path).");
        }

        var timeoutMs = (int)settings.CommandTimeout.TotalMilliseconds;
        if (timeoutMs <= 0)
        {
            throw new ArgumentException($"commandTimeoutMs is {timeoutMs}; it must be positive (250 is a good start).");
        }

        var options = new ConfigurationOptions
        {
            EndPoints = { endpoint },
            User = settings.User,
            DefaultDatabase = settings.Database,
            ClientName = ClientName,
            // One primary, and no pub/sub: no tie-breaker key to read and no configuration channel to
            // subscribe to, so an ACL user needs only the gw:* keys and the scripting commands.
            TieBreaker = string.Empty,
            ConfigurationChannel = string.Empty,
            // Never throw from the first connect: a disconnected multiplexer keeps retrying, and
            // decisions follow failOpen / failClosed until it is back.
            AbortOnConnectFail = false,
            // The handshake is several round trips; a command is one. Give it at least a second, and
            // the first connect three attempts (a cold process spends seconds compiling the client).
            ConnectTimeout = Math.Max(timeoutMs, 1000),
            ConnectRetry = 3,
            SyncTimeout = timeoutMs,
            AsyncTimeout = timeoutMs,
            // While disconnected a command fails at once instead of queueing until its timeout:
            // the request falls back (or is refused) without spending its latency on a Redis that is down.
            BacklogPolicy = BacklogPolicy.FailFast,
            // The heartbeat checks timeouts, notices dead connections and drives reconnection; tie its
            // period to the command timeout so neither a timeout nor a recovery waits a whole second.
            HeartbeatInterval = TimeSpan.FromMilliseconds(Math.Clamp(timeoutMs / 2, 50, 1000)),
            // PING an idle connection every 10 s so a peer that vanished is found before a request needs it.
            KeepAlive = 10,
            // Back off from 50 ms to 2 s between reconnection attempts.
            ReconnectRetryPolicy = new ExponentialRetry(50, 2000),
            LoggerFactory = loggerFactory,
        };
        return options;
    }

    /// <summary>The database for the next command. Throws <see cref="RedisConnectionException"/> when not connected yet.</summary>
    public ValueTask<IDatabaseAsync> GetDatabaseAsync(CancellationToken cancellationToken)
    {
        var connect = Volatile.Read(ref _connect) ?? StartConnect();
        return connect.Task.IsCompletedSuccessfully
            ? new ValueTask<IDatabaseAsync>(connect.Task.Result.GetDatabase())
            : WaitForConnectAsync(connect, cancellationToken);
    }

    /// <summary>True when the multiplexer holds a live connection (readiness).</summary>
    public bool IsConnected
        => Volatile.Read(ref _connect) is { } connect && connect.Task.IsCompletedSuccessfully && connect.Task.Result.IsConnected;

    /// <summary>Starts the first connect without waiting for it, so it is usually done before the first call.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = Volatile.Read(ref _connect) ?? StartConnect();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        var connect = Volatile.Read(ref _connect);
        if (connect is null)
        {
            return;
        }

        ConnectionMultiplexer multiplexer;
        try
        {
            multiplexer = await connect.Task.ConfigureAwait(false);
        }
        catch (RedisException)
        {
            return; // Nothing was connected; the failure was logged when it happened.
        }

        await multiplexer.DisposeAsync().ConfigureAwait(false);
    }

    private ConnectAttempt StartConnect()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        var result = new TaskCompletionSource<ConnectionMultiplexer>(TaskCreationOptions.RunContinuationsAsynchronously);
        var mine = new ConnectAttempt(result.Task, Environment.TickCount64 + (long)_firstConnectTimeout.TotalMilliseconds);
        var current = Interlocked.CompareExchange(ref _connect, mine, null);
        if (current is not null)
        {
            return current;
        }

        _ = ConnectAsync(mine, result);
        return mine;
    }

    private async Task ConnectAsync(ConnectAttempt attempt, TaskCompletionSource<ConnectionMultiplexer> result)
    {
        try
        {
            _options.Password = ReadPassword();
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(_options).ConfigureAwait(false);
            multiplexer.ConnectionFailed += OnConnectionFailed;
            multiplexer.ConnectionRestored += OnConnectionRestored;
            if (!multiplexer.IsConnected)
            {
                Log.NotConnectedYet(_logger, _settings.Endpoint);
            }

            result.SetResult(multiplexer);
        }
        catch (Exception ex)
        {
            // Let the next decision try again from scratch rather than keep a failed attempt.
            _ = Interlocked.CompareExchange(ref _connect, null, attempt);
            result.SetException(ex);
        }
    }

    private string? ReadPassword()
    {
        try
        {
            return _settings.Password?.Invoke();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Without its password the store cannot be reached: fail over like any unreachable Redis.
            throw new RedisConnectionException(ConnectionFailureType.AuthenticationFailure, CommandFlags.None, "The Redis password could not be read: " + ex.Message, ex, CommandStatus.Unknown);
        }
    }

    private async ValueTask<IDatabaseAsync> WaitForConnectAsync(ConnectAttempt connect, CancellationToken cancellationToken)
    {
        // Every caller waits for the same first connect until one deadline, then fails at once: a Redis
        // that is down at start-up costs the first calls one connect timeout, not each call one.
        var remaining = connect.Deadline - Environment.TickCount64;
        try
        {
            if (remaining <= 0)
            {
                throw new TimeoutException();
            }

            var multiplexer = await connect.Task.WaitAsync(TimeSpan.FromMilliseconds(remaining), cancellationToken).ConfigureAwait(false);
            return multiplexer.GetDatabase();
        }
        catch (TimeoutException ex)
        {
            throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, CommandFlags.None, $"Still connecting to Redis at {_settings.Endpoint} after {_firstConnectTimeout.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)} ms.", ex, CommandStatus.Unknown);
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            Log.ConnectionFailed(_logger, _settings.Endpoint, e.FailureType, e.Exception);
        }

        // The multiplexer reads these options on every reconnection: pick up a rotated password.
        if (_settings.Password is { } password)
        {
            try
            {
                _options.Password = password();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.PasswordUnavailable(_logger, ex);
            }
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            Log.ConnectionRestored(_logger, _settings.Endpoint);
        }
    }

    /// <summary>The first connect, and the <see cref="Environment.TickCount64"/> after which nobody waits for it.</summary>
    private sealed record ConnectAttempt(Task<ConnectionMultiplexer> Task, long Deadline);

    private static partial class Log
    {
        [LoggerMessage(333, LogLevel.Warning, "Redis at {Endpoint} is not reachable yet; the multiplexer keeps retrying in the background.", EventName = "RedisNotConnectedYet")]
        public static partial void NotConnectedYet(ILogger logger, string endpoint);

        [LoggerMessage(334, LogLevel.Warning, "Redis connection to {Endpoint} failed ({FailureType}); reconnecting.", EventName = "RedisConnectionFailed")]
        public static partial void ConnectionFailed(ILogger logger, string endpoint, ConnectionFailureType failureType, Exception? exception);

        [LoggerMessage(335, LogLevel.Information, "Redis connection to {Endpoint} restored.", EventName = "RedisConnectionRestored")]
        public static partial void ConnectionRestored(ILogger logger, string endpoint);

        [LoggerMessage(336, LogLevel.Error, "The Redis password could not be re-read; the next reconnection uses the previous one.", EventName = "RedisPasswordUnavailable")]
        public static partial void PasswordUnavailable(ILogger logger, Exception exception);
    }
}
