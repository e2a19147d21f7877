namespace Gateway.Grpc.Redis;

/// <summary>Which of the two sockets of a <see cref="RedisConnection"/> changed state.</summary>
public enum RedisConnectionKind
{
    /// <summary>The multiplexed command connection (<see cref="RedisConnection.IsConnected"/>).</summary>
    Interactive,

    /// <summary>The Pub/Sub connection, opened by the first <see cref="RedisConnection.SubscribeAsync"/>.
    /// Messages published while it is down are lost; on reconnection every channel is subscribed again.</summary>
    Subscription,
}

/// <summary>Raised by <see cref="RedisConnection.ConnectionStateChanged"/> when a connection drops or comes back.</summary>
public sealed class RedisConnectionStateChangedEventArgs(RedisConnectionKind kind, bool isConnected, string endpoint, Exception? exception) : EventArgs
{
    /// <summary>The connection that changed.</summary>
    public RedisConnectionKind Kind { get; } = kind;

    /// <summary>True when it is (re)connected, false when it was lost.</summary>
    public bool IsConnected { get; } = isConnected;

    /// <summary>The configured endpoint.</summary>
    public string Endpoint { get; } = endpoint;

    /// <summary>Why it was lost (a <see cref="RedisConnectionException"/>); null when connected.</summary>
    public Exception? Exception { get; } = exception;
}
