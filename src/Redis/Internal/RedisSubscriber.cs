using System.Collections.Immutable;

namespace Gateway.Grpc.Redis.Internal;

/// <summary>
/// The Pub/Sub connection. Registrations are kept here, not on the socket, so every reconnection
/// subscribes all channels again. Registry changes and the SUBSCRIBE/UNSUBSCRIBE they cause are made
/// under one async lock, so the server sees them in the order the registry changed.
/// </summary>
internal sealed class RedisSubscriber : IAsyncDisposable
{
    private readonly RedisConnection _owner;
    private readonly CancellationToken _stopping;
    private readonly object _lock = new();
    private readonly Dictionary<string, ChannelState> _channels = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private RedisTransport? _transport;
    private Task _loop = Task.CompletedTask;

    public RedisSubscriber(RedisConnection owner, CancellationToken stopping)
    {
        _owner = owner;
        _stopping = stopping;
    }

    public void Start() => _loop = Task.Run(RunAsync);

    public async Task<RedisSubscription> SubscribeAsync(string channel, Action<RedisChannelMessage> handler, CancellationToken cancellationToken)
    {
        // The first subscriber waits for the first connect attempt, so on a healthy server it gets a confirmed subscription.
        await _firstAttempt.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        var subscription = new RedisSubscription(this, channel, handler);
        ChannelState state;
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            bool first;
            RedisTransport? transport;
            lock (_lock)
            {
                first = !_channels.TryGetValue(channel, out state!);
                if (first)
                {
                    state = new ChannelState();
                    _channels.Add(channel, state);
                }

                state.Handlers = state.Handlers.Add(handler);
                transport = _transport;
            }

            if (transport is null)
            {
                return subscription; // made on reconnection
            }

            if (first && !await TrySendAsync(transport, "SUBSCRIBE", [channel]).ConfigureAwait(false))
            {
                return subscription; // the connection just dropped; made on reconnection
            }
        }
        finally
        {
            _writeLock.Release();
        }

        var options = _owner.Options;
        try
        {
            await state.Confirmed.Task.WaitAsync(options.CommandTimeout, options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await subscription.DisposeAsync().ConfigureAwait(false);
            throw new RedisTimeoutException(
                $"Redis at {options.Endpoint} did not confirm SUBSCRIBE {channel} within {options.CommandTimeout.TotalMilliseconds:0} ms (RedisOptions.CommandTimeout).");
        }
        catch (OperationCanceledException)
        {
            await subscription.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return subscription;
    }

    public async ValueTask UnsubscribeAsync(string channel, Action<RedisChannelMessage> handler)
    {
        await _writeLock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            RedisTransport? transport;
            lock (_lock)
            {
                if (!_channels.TryGetValue(channel, out var state))
                {
                    return;
                }

                state.Handlers = state.Handlers.Remove(handler);
                if (!state.Handlers.IsEmpty)
                {
                    return;
                }

                _channels.Remove(channel);
                transport = _transport;
            }

            if (transport is not null)
            {
                await TrySendAsync(transport, "UNSUBSCRIBE", [channel]).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        // _stopping is cancelled by the owner before this is called, which closes the socket and ends the loop.
        _firstAttempt.TrySetResult();
        await _loop.ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var token = _stopping;
        try
        {
            var transport = await _owner.ReconnectAsync(RedisConnectionKind.Subscription, ConnectFirstAsync, token).ConfigureAwait(false);
            while (true)
            {
                RedisConnectionException reason;

                // Disposal closes the socket whenever it happens, even between connecting and reading.
                using (token.UnsafeRegister(static state => ((RedisTransport)state!).Dispose(), transport))
                {
                    await ActivateAsync(transport).ConfigureAwait(false);
                    if (_firstAttempt.TrySetResult())
                    {
                        RedisConnection.Log.Connected(_owner.Logger, RedisConnectionKind.Subscription, _owner.Endpoint);
                    }
                    else
                    {
                        _owner.RaiseStateChanged(RedisConnectionKind.Subscription, connected: true, exception: null);
                    }

                    reason = await ReadLoopAsync(transport).ConfigureAwait(false);
                }

                lock (_lock)
                {
                    _transport = null;
                }

                transport.Dispose();
                if (token.IsCancellationRequested)
                {
                    return;
                }

                _owner.RaiseStateChanged(RedisConnectionKind.Subscription, connected: false, reason);
                transport = await _owner.ReconnectAsync(
                    RedisConnectionKind.Subscription,
                    ct => RedisTransport.ConnectAsync(_owner.Options, RedisConnectionKind.Subscription, ct),
                    token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Disposed.
        }
        finally
        {
            _firstAttempt.TrySetResult();
        }
    }

    private async Task<RedisTransport> ConnectFirstAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await RedisTransport.ConnectAsync(_owner.Options, RedisConnectionKind.Subscription, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _firstAttempt.TrySetResult(); // SubscribeAsync stops waiting; its registration is made once connected
            throw;
        }
    }

    /// <summary>Publishes the transport and subscribes every registered channel in one SUBSCRIBE.</summary>
    private async Task ActivateAsync(RedisTransport transport)
    {
        await _writeLock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            string[] channels;
            lock (_lock)
            {
                _transport = transport;
                channels = [.. _channels.Keys];
            }

            if (channels.Length > 0)
            {
                await TrySendAsync(transport, "SUBSCRIBE", channels).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Writes a command; false when the socket is gone (the read loop notices and reconnects).</summary>
    private static async Task<bool> TrySendAsync(RedisTransport transport, string command, string[] args)
    {
        try
        {
            RespWriter.WriteStrings(transport.Writer, command, args);
            var result = await transport.Writer.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            return !result.IsCompleted;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            transport.Dispose();
            return false;
        }
    }

    private async Task<RedisConnectionException> ReadLoopAsync(RedisTransport transport)
    {
        var reader = transport.Reader;
        try
        {
            while (true)
            {
                var read = await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                var buffer = read.Buffer;
                try
                {
                    while (RespParser.TryRead(ref buffer, out var reply))
                    {
                        Dispatch(reply!);
                    }

                    if (read.IsCompleted)
                    {
                        return new RedisConnectionException($"Redis at {transport.Endpoint} closed the Pub/Sub connection.");
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.Start, buffer.End);
                }
            }
        }
        catch (RedisProtocolException ex)
        {
            return new RedisConnectionException($"Protocol error from Redis at {transport.Endpoint} on the Pub/Sub connection; it was reset. {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            return new RedisConnectionException($"Reading Pub/Sub messages from Redis at {transport.Endpoint} failed: {ex.Message}", ex);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private void Dispatch(RedisResult reply)
    {
        // Pushes in subscribed mode are arrays: [message, channel, payload], [subscribe, channel, count], [unsubscribe, ...], [pong, ...].
        if (reply.Type != RedisResultType.Array || reply.IsNull || reply.Length < 2 || reply[0].Type != RedisResultType.BulkString)
        {
            RedisConnection.Log.UnexpectedPubSubReply(_owner.Logger, reply.ToString());
            return;
        }

        var kind = reply[0].AsString();
        var channel = reply[1].AsString() ?? string.Empty;
        switch (kind)
        {
            case "message" when reply.Length == 3:
                ImmutableArray<Action<RedisChannelMessage>> handlers;
                lock (_lock)
                {
                    if (!_channels.TryGetValue(channel, out var state))
                    {
                        return; // unsubscribed while the message was in flight
                    }

                    handlers = state.Handlers;
                }

                var message = new RedisChannelMessage(channel, reply[2].AsBytes() ?? []);
                foreach (var handler in handlers)
                {
                    try
                    {
                        handler(message);
                    }
#pragma warning disable CA1031 // One handler's bug must not stop delivery to the others or kill the connection.
                    catch (Exception ex)
#pragma warning restore CA1031
                    {
                        RedisConnection.Log.SubscriptionHandlerFailed(_owner.Logger, channel, ex);
                    }
                }

                break;
            case "subscribe":
                lock (_lock)
                {
                    if (_channels.TryGetValue(channel, out var state))
                    {
                        state.Confirmed.TrySetResult();
                    }
                }

                break;
            case "unsubscribe" or "pong":
                break;
            default:
                RedisConnection.Log.UnexpectedPubSubReply(_owner.Logger, reply.ToString());
                break;
        }
    }

    private sealed class ChannelState
    {
        public ImmutableArray<Action<RedisChannelMessage>> Handlers { get; set; } = [];

        public TaskCompletionSource Confirmed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
