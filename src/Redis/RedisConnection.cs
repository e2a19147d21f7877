using Gateway.Grpc.Redis.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Grpc.Redis;

/// <summary>
/// A multiplexed Redis client, shaped like StackExchange.Redis's <c>ConnectionMultiplexer</c> + <c>IDatabase</c>:
/// create one per process and share it. All callers' commands go, in order, onto one socket; a write loop
/// sends everything queued in one write (pipelining) and replies complete callers in FIFO order.
/// Pub/Sub uses a second socket, opened by the first <see cref="SubscribeAsync"/>.
/// </summary>
/// <remarks>
/// <para>Reconnection: when the socket drops, every queued and in-flight command fails with
/// <see cref="RedisConnectionException"/>, <see cref="ConnectionStateChanged"/> fires with
/// <c>IsConnected = false</c>, and a background loop reconnects with exponential backoff
/// (<see cref="RedisOptions.ReconnectMinDelay"/> doubling to <see cref="RedisOptions.ReconnectMaxDelay"/>).</para>
/// <para>While disconnected, new commands fail fast with <see cref="RedisConnectionException"/> instead of
/// waiting: a caller that has a local fallback (the gateway's local rate limits) uses it at once rather than
/// spending its latency budget on a Redis that is down.</para>
/// </remarks>
public sealed partial class RedisConnection : IAsyncDisposable
{
    private readonly RedisOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _disposed = new();
    private readonly ITimer _timeoutTimer;
    private readonly object _subscriberLock = new();
    private volatile InteractiveConnection? _current;
    private volatile Exception? _lastError;
    private Task _supervisor = Task.CompletedTask;
    private RedisSubscriber? _subscriber;
    private int _disposeStarted;

    private RedisConnection(RedisOptions options)
    {
        _options = options;
        _time = options.TimeProvider;
        _logger = options.LoggerFactory?.CreateLogger<RedisConnection>() ?? NullLogger<RedisConnection>.Instance;
        var period = TimeSpan.FromTicks(Math.Clamp(options.CommandTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));
        _timeoutTimer = _time.CreateTimer(static state => ((RedisConnection)state!).ExpireCommands(), this, period, period);
    }

    /// <summary>
    /// Raised, on a thread-pool thread and in order, when the command or Pub/Sub connection is lost or comes
    /// back (not for the initial successful connect). Handlers must be quick; exceptions are logged and ignored.
    /// </summary>
    public event EventHandler<RedisConnectionStateChangedEventArgs>? ConnectionStateChanged;

    /// <summary>True while the command connection is up; commands fail fast when false.</summary>
    public bool IsConnected => _current is not null;

    /// <summary>The configured endpoint.</summary>
    public string Endpoint => _options.Endpoint;

    /// <summary>The current command connection (tests read its counters).</summary>
    internal InteractiveConnection? Current => _current;

    internal RedisOptions Options => _options;

    internal ILogger Logger => _logger;

    /// <summary>
    /// Validates <paramref name="options"/>, connects and performs the handshake. With
    /// <see cref="RedisOptions.AbortOnConnectFail"/> false a failed first connect returns a disconnected
    /// connection that keeps retrying.
    /// </summary>
    /// <exception cref="ArgumentException">Invalid options; the message names each bad setting.</exception>
    /// <exception cref="RedisConnectionException">The connection or handshake failed (and <see cref="RedisOptions.AbortOnConnectFail"/> is true).</exception>
    public static async Task<RedisConnection> ConnectAsync(RedisOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var connection = new RedisConnection(options.Clone());
        try
        {
            await connection.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return connection;
    }

    /// <summary>
    /// Sends a command and returns its reply. <paramref name="command"/> is the command name only
    /// (<c>"CLIENT"</c>, not <c>"CLIENT GETNAME"</c>); arguments may be strings, byte arrays,
    /// <see cref="ReadOnlyMemory{T}"/> of bytes or numbers.
    /// </summary>
    /// <exception cref="ArgumentException">Empty/whitespace command name, a command that cannot share a multiplexed
    /// connection (SUBSCRIBE, MULTI, SELECT, blocking pops, ...), or a null/unsupported argument.</exception>
    /// <remarks>The task fails with <see cref="RedisServerException"/> (error reply), <see cref="RedisConnectionException"/>,
    /// <see cref="RedisTimeoutException"/>, or is cancelled.</remarks>
    public Task<RedisResult> ExecuteAsync(string command, params object[] args)
        => ExecuteAsync(command, args, CancellationToken.None);

    /// <inheritdoc cref="ExecuteAsync(string, object[])"/>
    public Task<RedisResult> ExecuteAsync(string command, object[] args, CancellationToken cancellationToken)
        => ExecuteCore(command, args, Converters.Result, cancellationToken);

    /// <summary>Closes both connections; queued and in-flight commands fail with <see cref="RedisConnectionException"/>, later calls throw <see cref="ObjectDisposedException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposeStarted, 1) != 0)
        {
            return;
        }

        await _timeoutTimer.DisposeAsync().ConfigureAwait(false);
        await _disposed.CancelAsync().ConfigureAwait(false);
        RedisSubscriber? subscriber;
        lock (_subscriberLock)
        {
            subscriber = _subscriber;
        }

        if (subscriber is not null)
        {
            await subscriber.DisposeAsync().ConfigureAwait(false);
        }

        await _supervisor.ConfigureAwait(false);
        _disposed.Dispose();
    }

    internal Task<T> ExecuteCore<T>(string command, object[] args, Func<RedisResult, T> convert, CancellationToken cancellationToken)
    {
        RespWriter.Validate(command, args);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeStarted) != 0, this);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        var connection = _current;
        if (connection is null)
        {
            return Task.FromException<T>(NotConnected(command));
        }

        var pending = new PendingCommand<T>(command, args, _time.GetTimestamp(), convert);
        pending.RegisterCancellation(cancellationToken);
        if (!connection.TryEnqueue(pending))
        {
            pending.SetException(NotConnected(command));
        }

        return pending.Task;
    }

    /// <summary>Retries <paramref name="connect"/> with backoff until it succeeds or <paramref name="cancellationToken"/> fires. The first attempt is immediate.</summary>
    internal async Task<T> ReconnectAsync<T>(RedisConnectionKind kind, Func<CancellationToken, Task<T>> connect, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await connect(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // An attempt that fails (e.g. connection refused) while disposal is under way ends the loop, quietly.
                cancellationToken.ThrowIfCancellationRequested();
                var delay = Backoff.Delay(attempt, _options.ReconnectMinDelay, _options.ReconnectMaxDelay, Random.Shared.NextDouble());
                if (kind == RedisConnectionKind.Interactive)
                {
                    _lastError = ex;
                }

                Log.ReconnectAttemptFailed(_logger, kind, _options.Endpoint, attempt + 1, ex.Message, (long)delay.TotalMilliseconds);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    internal void RaiseStateChanged(RedisConnectionKind kind, bool connected, Exception? exception)
    {
        if (connected)
        {
            Log.Connected(_logger, kind, _options.Endpoint);
        }
        else
        {
            Log.ConnectionLost(_logger, kind, _options.Endpoint, exception?.Message);
        }

        var handler = ConnectionStateChanged;
        if (handler is null)
        {
            return;
        }

        try
        {
            handler(this, new RedisConnectionStateChangedEventArgs(kind, connected, _options.Endpoint, exception));
        }
#pragma warning disable CA1031 // A subscriber's bug must not kill the reconnection loop.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.EventHandlerFailed(_logger, ex);
        }
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        InteractiveConnection? first = null;
        try
        {
            first = await ConnectInteractiveAsync(cancellationToken).ConfigureAwait(false);
            Log.Connected(_logger, RedisConnectionKind.Interactive, _options.Endpoint);
        }
        catch (RedisConnectionException ex) when (!_options.AbortOnConnectFail)
        {
            _lastError = ex;
            Log.InitialConnectFailed(_logger, _options.Endpoint, ex.Message);
        }

        _current = first;
        _supervisor = Task.Run(() => SuperviseAsync(first), CancellationToken.None);
    }

    private async Task<InteractiveConnection> ConnectInteractiveAsync(CancellationToken cancellationToken)
    {
        var transport = await RedisTransport.ConnectAsync(_options, RedisConnectionKind.Interactive, cancellationToken).ConfigureAwait(false);
        var connection = new InteractiveConnection(transport);
        connection.Start();
        return connection;
    }

    /// <summary>Owns the command connection's lifecycle: wait for it to die, announce, reconnect, announce.</summary>
    private async Task SuperviseAsync(InteractiveConnection? connection)
    {
        var token = _disposed.Token;
        try
        {
            while (true)
            {
                if (connection is not null)
                {
                    RedisConnectionException reason;
                    using (token.UnsafeRegister(static state => ((InteractiveConnection)state!).Close(Disposed()), connection))
                    {
                        reason = await connection.Closed.ConfigureAwait(false);
                    }

                    _current = null;
                    if (token.IsCancellationRequested)
                    {
                        return;
                    }

                    _lastError = reason;
                    RaiseStateChanged(RedisConnectionKind.Interactive, connected: false, reason);
                }

                connection = await ReconnectAsync(RedisConnectionKind.Interactive, ConnectInteractiveAsync, token).ConfigureAwait(false);
                _current = connection;
                RaiseStateChanged(RedisConnectionKind.Interactive, connected: true, exception: null);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Disposed while reconnecting.
        }
    }

    private void ExpireCommands() => _current?.ExpireCommands(_time, _options.CommandTimeout);

    private RedisConnectionException NotConnected(string command)
        => new(
            $"{command} not sent: not connected to Redis at {_options.Endpoint}; reconnecting in the background. " +
            $"Commands fail fast while disconnected. Last error: {_lastError?.Message ?? "none"}",
            _lastError);

    private static RedisConnectionException Disposed() => new("The RedisConnection was disposed.");

    private RedisSubscriber GetSubscriber()
    {
        lock (_subscriberLock)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeStarted) != 0, this);
            if (_subscriber is null)
            {
                _subscriber = new RedisSubscriber(this, _disposed.Token);
                _subscriber.Start();
            }

            return _subscriber;
        }
    }
}
