using Gateway.Grpc.Redis.Internal;

namespace Gateway.Grpc.Redis;

/// <summary>A handler subscribed to a channel by <see cref="RedisConnection.SubscribeAsync"/>; dispose to unsubscribe.</summary>
public sealed class RedisSubscription : IAsyncDisposable
{
    private readonly RedisSubscriber _owner;
    private readonly Action<RedisChannelMessage> _handler;
    private int _disposed;

    internal RedisSubscription(RedisSubscriber owner, string channel, Action<RedisChannelMessage> handler)
    {
        _owner = owner;
        Channel = channel;
        _handler = handler;
    }

    /// <summary>The channel.</summary>
    public string Channel { get; }

    /// <summary>Removes the handler; the last handler of a channel sends <c>UNSUBSCRIBE</c>. Idempotent.</summary>
    public ValueTask DisposeAsync()
        => Interlocked.Exchange(ref _disposed, 1) == 0 ? _owner.UnsubscribeAsync(Channel, _handler) : ValueTask.CompletedTask;
}
