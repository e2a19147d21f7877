using System.Buffers;
using System.IO.Pipelines;

namespace Gateway.Grpc.Redis.Internal;

/// <summary>
/// The multiplexed command connection: callers enqueue, one write loop drains everything queued into a
/// single socket write (pipelining), one read loop parses replies and completes the oldest pending command
/// (Redis answers a connection's commands strictly in order). Lives until the socket fails; the owning
/// <see cref="RedisConnection"/> then replaces it.
/// </summary>
internal sealed class InteractiveConnection
{
    private const int FlushThreshold = 64 * 1024;

    private readonly RedisTransport _transport;
    private readonly object _lock = new();
    private readonly Queue<PendingCommand> _unwritten = new();
    private readonly Queue<PendingCommand> _pending = new(); // written, awaiting reply, in wire order
    private readonly SemaphoreSlim _writeSignal = new(0);
    private readonly TaskCompletionSource<RedisConnectionException> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<PendingCommand> _batch = [];
    private bool _signaled;
    private bool _isClosed;
    private long _flushes;
    private long _commandsWritten;

    public InteractiveConnection(RedisTransport transport)
    {
        _transport = transport;
    }

    public string Endpoint => _transport.Endpoint;

    /// <summary>Completes (never faults) with the reason once the connection is dead and every command it held has failed.</summary>
    public Task<RedisConnectionException> Closed => _closed.Task;

    /// <summary>Socket flushes so far; fewer than <see cref="CommandsWritten"/> means commands were batched.</summary>
    internal long Flushes => Interlocked.Read(ref _flushes);

    internal long CommandsWritten => Interlocked.Read(ref _commandsWritten);

    /// <summary>Commands written and waiting for their reply (including abandoned ones).</summary>
    internal int InFlight
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    public void Start()
    {
        _ = Task.Run(WriteLoopAsync);
        _ = Task.Run(ReadLoopAsync);
    }

    /// <summary>Queues a command; false when the connection is already closed (the caller fails fast).</summary>
    public bool TryEnqueue(PendingCommand command)
    {
        bool signal;
        lock (_lock)
        {
            if (_isClosed)
            {
                return false;
            }

            _unwritten.Enqueue(command);
            signal = !_signaled;
            _signaled = true;
        }

        if (signal)
        {
            _writeSignal.Release();
        }

        return true;
    }

    /// <summary>
    /// Fails commands older than <paramref name="timeout"/> with <see cref="RedisTimeoutException"/>. They stay
    /// queued: a written one still gets its reply consumed, an unwritten one is skipped by the write loop.
    /// </summary>
    public void ExpireCommands(TimeProvider time, TimeSpan timeout)
    {
        var now = time.GetTimestamp();
        lock (_lock)
        {
            // Both queues are in enqueue order, pending before unwritten: stop at the first young command.
            if (!Expire(_pending, time, now, timeout, _pending.Count + _unwritten.Count))
            {
                return;
            }

            Expire(_unwritten, time, now, timeout, _pending.Count + _unwritten.Count);
        }
    }

    /// <summary>Closes the connection, failing every queued and in-flight command with <paramref name="reason"/>'s message.</summary>
    public void Close(RedisConnectionException reason)
    {
        PendingCommand[] failed;
        lock (_lock)
        {
            if (_isClosed)
            {
                return;
            }

            _isClosed = true;
            failed = [.. _pending, .. _unwritten];
            _pending.Clear();
            _unwritten.Clear();
        }

        _writeSignal.Release();
        _transport.Dispose();
        foreach (var command in failed)
        {
            if (!command.IsCompleted)
            {
                command.SetException(new RedisConnectionException(
                    $"{command.Command} failed: {reason.Message} Whether it ran on the server is unknown.", reason.InnerException ?? reason));
            }
        }

        _closed.TrySetResult(reason);
    }

    private static bool Expire(Queue<PendingCommand> queue, TimeProvider time, long now, TimeSpan timeout, int inFlight)
    {
        foreach (var command in queue)
        {
            if (command.IsCompleted)
            {
                continue;
            }

            var elapsed = time.GetElapsedTime(command.Started, now);
            if (elapsed < timeout)
            {
                return false;
            }

            command.SetException(new RedisTimeoutException(
                $"No reply to {command.Command} within {timeout.TotalMilliseconds:0} ms (RedisOptions.CommandTimeout); " +
                $"{inFlight} commands were queued or in flight on the connection. The command may still run on the server."));
        }

        return true;
    }

    private async Task WriteLoopAsync()
    {
        var writer = _transport.Writer;
        try
        {
            while (true)
            {
                await _writeSignal.WaitAsync().ConfigureAwait(false);
                lock (_lock)
                {
                    if (_isClosed)
                    {
                        return;
                    }

                    _signaled = false;
                    while (_unwritten.TryDequeue(out var command))
                    {
                        if (command.IsCompleted)
                        {
                            continue; // cancelled or timed out before it was sent: never send it
                        }

                        _pending.Enqueue(command); // before writing, so its reply always finds it
                        _batch.Add(command);
                    }
                }

                if (_batch.Count == 0)
                {
                    continue;
                }

                foreach (var command in _batch)
                {
                    command.Write(writer);
                    if (writer.UnflushedBytes > FlushThreshold)
                    {
                        await FlushAsync(writer).ConfigureAwait(false);
                    }
                }

                Interlocked.Add(ref _commandsWritten, _batch.Count);
                _batch.Clear();
                if (writer.UnflushedBytes > 0)
                {
                    await FlushAsync(writer).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex)
        {
            Close(ex as RedisConnectionException
                  ?? new RedisConnectionException($"Writing to Redis at {Endpoint} failed: {ex.Message}", ex));
        }
        finally
        {
            await writer.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask FlushAsync(PipeWriter writer)
    {
        var result = await writer.FlushAsync().ConfigureAwait(false);
        Interlocked.Increment(ref _flushes);
        if (result.IsCompleted || result.IsCanceled)
        {
            throw new RedisConnectionException($"The connection to Redis at {Endpoint} was closed while writing.");
        }
    }

    private async Task ReadLoopAsync()
    {
        var reader = _transport.Reader;
        try
        {
            while (true)
            {
                var read = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = read.Buffer;
                try
                {
                    while (RespParser.TryRead(ref buffer, out var reply))
                    {
                        PendingCommand? command;
                        lock (_lock)
                        {
                            _pending.TryDequeue(out command);
                        }

                        if (command is null)
                        {
                            throw new RedisProtocolException("Invalid RESP2 from the server: a reply arrived with no command waiting for it.");
                        }

                        command.SetReply(reply!);
                    }

                    if (read.IsCompleted)
                    {
                        throw new RedisConnectionException(buffer.IsEmpty
                            ? $"Redis at {Endpoint} closed the connection."
                            : $"Redis at {Endpoint} closed the connection in the middle of a reply.");
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
            Close(new RedisConnectionException($"Protocol error from Redis at {Endpoint}; the connection was reset. {ex.Message}", ex));
        }
        catch (Exception ex)
        {
            Close(ex as RedisConnectionException
                  ?? new RedisConnectionException($"Reading from Redis at {Endpoint} failed: {ex.Message}", ex));
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }
}
