namespace Gateway.Grpc.Simulator.Internal;

/// <summary>
/// Output pacing: token n is due at ttft + n / tokens-per-second after the stream started, so a
/// slow consumer or a slow timer never makes the stream drift. 0/0 = no waiting at all.
/// </summary>
internal sealed class Pacer(TimeProvider timeProvider, int ttftMs, double tokensPerSecond)
{
    private long _started;

    /// <summary>Tokens released so far.</summary>
    public int Units { get; private set; }

    public void Start() => _started = timeProvider.GetTimestamp();

    public async ValueTask NextAsync(CancellationToken cancellationToken)
    {
        var due = ttftMs + (tokensPerSecond > 0 ? Units * 1000.0 / tokensPerSecond : 0);
        Units++;
        var wait = due - timeProvider.GetElapsedTime(_started).TotalMilliseconds;
        if (wait >= 1)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(wait), timeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>For unary answers: the time to produce <paramref name="units"/> tokens, waited in one go.</summary>
    public Task WholeAsync(int units, CancellationToken cancellationToken)
    {
        var total = ttftMs + (tokensPerSecond > 0 ? units * 1000.0 / tokensPerSecond : 0);
        return total < 1 ? Task.CompletedTask : Task.Delay(TimeSpan.FromMilliseconds(total), timeProvider, cancellationToken);
    }
}
