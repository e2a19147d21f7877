using System.Buffers;

namespace Gateway.Grpc.Redis.Internal;

/// <summary>
/// A queued or in-flight command. It stays in the connection's FIFO until its reply arrives even when the
/// caller has gone (cancelled, timed out): the reply is then read and discarded, keeping later replies matched.
/// </summary>
internal abstract class PendingCommand(string command, object[] args, long started)
{
    public string Command { get; } = command;

    public object[] Args { get; } = args;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> when the caller queued it; the command timeout runs from here.</summary>
    public long Started { get; } = started;

    /// <summary>The caller has its outcome (reply, error, cancellation or timeout).</summary>
    public abstract bool IsCompleted { get; }

    public void Write(IBufferWriter<byte> writer) => RespWriter.WriteCommand(writer, Command, Args);

    /// <summary>Delivers the reply; a top-level error reply becomes <see cref="RedisServerException"/>. Ignored when already completed.</summary>
    public abstract void SetReply(RedisResult reply);

    public abstract void SetException(Exception exception);
}

internal sealed class PendingCommand<T>(string command, object[] args, long started, Func<RedisResult, T> convert)
    : PendingCommand(command, args, started)
{
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenRegistration _registration;

    public Task<T> Task => _completion.Task;

    public override bool IsCompleted => _completion.Task.IsCompleted;

    /// <summary>Cancelling completes the caller's task at once; if already written, the command stays queued for its reply.</summary>
    public void RegisterCancellation(CancellationToken cancellationToken)
    {
        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(
                static (state, token) => ((PendingCommand<T>)state!)._completion.TrySetCanceled(token), this);
        }
    }

    public override void SetReply(RedisResult reply)
    {
        if (_completion.Task.IsCompleted)
        {
            return;
        }

        if (reply.Type == RedisResultType.Error)
        {
            _completion.TrySetException(new RedisServerException(reply.AsString()!));
        }
        else
        {
            try
            {
                _completion.TrySetResult(convert(reply));
            }
            catch (InvalidCastException ex)
            {
                _completion.TrySetException(new RedisException($"Unexpected reply to {Command}: {ex.Message}", ex));
            }
        }

        _registration.Unregister();
    }

    public override void SetException(Exception exception)
    {
        if (_completion.TrySetException(exception))
        {
            _registration.Unregister();
        }
    }
}
