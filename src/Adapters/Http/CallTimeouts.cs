namespace Gateway.Grpc.Adapters.Http;

/// <summary>
/// One call's cancellation: a source that cancels itself after a timeout on
/// <see cref="TimeProvider"/> (restartable: the stream idle timeout restarts it on every event)
/// and is cancelled by the caller's token through one registration. One source, its timer and
/// one callback per call, where a linked source over a second one cost two sources, a separate
/// timer and two registrations (this object lives as long as each open stream).
/// </summary>
internal sealed class CallTimeouts : IDisposable
{
    private readonly CancellationToken _caller;
    private readonly CancellationTokenSource _source;
    private readonly CancellationTokenRegistration _callerRegistration;

    public CallTimeouts(CancellationToken caller, TimeSpan timeout, TimeProvider timeProvider)
    {
        _caller = caller;
        _source = new CancellationTokenSource(timeout, timeProvider);
        // Runs at once when the caller has already cancelled.
        _callerRegistration = caller.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _source);
    }

    /// <summary>Cancelled when the caller cancels or the timer fires.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>True when the timer (not the caller) ended the call.</summary>
    public bool TimedOut => _source.IsCancellationRequested && !_caller.IsCancellationRequested;

    /// <summary>Starts the timer over with <paramref name="timeout"/> (nothing once cancelled).</summary>
    public void Restart(TimeSpan timeout) => _source.CancelAfter(timeout);

    public void Dispose()
    {
        _callerRegistration.Dispose();
        _source.Dispose();
    }
}
