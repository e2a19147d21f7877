using System.Threading.Channels;

namespace Gateway.Grpc.Redis.Tests.Infrastructure;

/// <summary>Records ConnectionStateChanged events so a test can await the next one (a sync point, not a sleep).</summary>
internal sealed class StateRecorder
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly Channel<RedisConnectionStateChangedEventArgs> _events = Channel.CreateUnbounded<RedisConnectionStateChangedEventArgs>();

    public StateRecorder(RedisConnection connection)
        => connection.ConnectionStateChanged += (_, e) => _events.Writer.TryWrite(e);

    /// <summary>The next event of <paramref name="kind"/>; fails the test if it has not come within 20 s.</summary>
    public async Task<RedisConnectionStateChangedEventArgs> NextAsync(RedisConnectionKind kind = RedisConnectionKind.Interactive)
    {
        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            while (true)
            {
                var e = await _events.Reader.ReadAsync(timeout.Token);
                if (e.Kind == kind)
                {
                    return e;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No {kind} ConnectionStateChanged event within {Patience}.");
        }
    }
}
