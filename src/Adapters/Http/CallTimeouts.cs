namespace Gateway.Grpc.Adapters.Http;

/// <summary>
/// One call's cancellation: the caller's token linked with a timer on <see cref="TimeProvider"/>
/// that can be restarted (the stream idle timeout restarts it on every event).
/// </summary>
internal sealed class CallTimeouts : IDisposable
{
    private readonly CancellationToken _caller;
    private readonly CancellationTokenSource _expired = new();
    private readonly CancellationTokenSource _linked;
    private readonly ITimer _timer;

    public CallTimeouts(CancellationToken caller, TimeSpan timeout, TimeProvider timeProvider)
    {
        _caller = caller;
        _linked = CancellationTokenSource.CreateLinkedTokenSource(caller, _expired.Token);
        _timer = timeProvider.CreateTimer(static s => ((CancellationTokenSource)s!).Cancel(), _expired, timeout, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Cancelled when the caller cancels or the timer fires.</summary>
    public CancellationToken Token => _linked.Token;

    /// <summary>True when the timer (not the caller) ended the call.</summary>
    public bool TimedOut => _expired.IsCancellationRequested && !_caller.IsCancellationRequested;

    /// <summary>Starts the timer over with <paramref name="timeout"/>.</summary>
    public void Restart(TimeSpan timeout) => _timer.Change(timeout, Timeout.InfiniteTimeSpan);

    public void Dispose()
    {
        _timer.Dispose();
        _linked.Dispose();
        _expired.Dispose();
    }
}
