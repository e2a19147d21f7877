using System.Threading.Channels;

namespace Gateway.Grpc.Redis.Tests.Infrastructure;

/// <summary>Records ConnectionStateChanged events per connection kind so a test can await the next one (a sync point, not a sleep).</summary>
internal sealed class StateRecorder
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly Channel<RedisConnectionStateChangedEventArgs> _interactive = Channel.CreateUnbounded<RedisConnectionStateChangedEventArgs>();
    private readonly Channel<RedisConnectionStateChangedEventArgs> _subscription = Channel.CreateUnbounded<RedisConnectionStateChangedEventArgs>();

    public StateRecorder(RedisConnection connection)
        => connection.ConnectionStateChanged += (_, e) =>
            (e.Kind == RedisConnectionKind.Interactive ? _interactive : _subscription).Writer.TryWrite(e);

    /// <summary>The next event of <paramref name="kind"/>; fails the test if it has not come within 20 s.</summary>
    public async Task<RedisConnectionStateChangedEventArgs> NextAsync(RedisConnectionKind kind = RedisConnectionKind.Interactive)
    {
        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            return await (kind == RedisConnectionKind.Interactive ? _interactive : _subscription).Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No {kind} ConnectionStateChanged event within {Patience}.");
        }
    }

    public bool HasPending(RedisConnectionKind kind = RedisConnectionKind.Interactive)
        => (kind == RedisConnectionKind.Interactive ? _interactive : _subscription).Reader.TryPeek(out _);
}
