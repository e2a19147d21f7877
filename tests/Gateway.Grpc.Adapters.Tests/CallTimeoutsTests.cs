using Gateway.Grpc.Adapters.Http;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Grpc.Adapters.Tests;

/// <summary>One call's cancellation: its own timer on the TimeProvider, and the caller's token.</summary>
public sealed class CallTimeoutsTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void TimerFires_TokenCancelled_TimedOut()
    {
        using var caller = new CancellationTokenSource();
        using var timeouts = new CallTimeouts(caller.Token, TimeSpan.FromSeconds(5), _time);

        _time.Advance(TimeSpan.FromMilliseconds(4999));
        Assert.False(timeouts.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.True(timeouts.Token.IsCancellationRequested);
        Assert.True(timeouts.TimedOut);
        Assert.False(caller.IsCancellationRequested);
    }

    [Fact]
    public void CallerCancels_TokenCancelled_NotTimedOut()
    {
        using var caller = new CancellationTokenSource();
        using var timeouts = new CallTimeouts(caller.Token, TimeSpan.FromSeconds(5), _time);

        caller.Cancel();

        Assert.True(timeouts.Token.IsCancellationRequested);
        Assert.False(timeouts.TimedOut);
    }

    [Fact]
    public void CallerAlreadyCancelled_TokenCancelledAtOnce()
    {
        using var caller = new CancellationTokenSource();
        caller.Cancel();

        using var timeouts = new CallTimeouts(caller.Token, TimeSpan.FromSeconds(5), _time);

        Assert.True(timeouts.Token.IsCancellationRequested);
        Assert.False(timeouts.TimedOut);
    }

    [Fact]
    public void Restart_CountsFromTheRestart()
    {
        using var timeouts = new CallTimeouts(CancellationToken.None, TimeSpan.FromSeconds(5), _time);

        _time.Advance(TimeSpan.FromSeconds(4));
        timeouts.Restart(TimeSpan.FromSeconds(3));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(timeouts.Token.IsCancellationRequested, "the first timeout (5 s) must not fire after a restart");
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.True(timeouts.Token.IsCancellationRequested);
        Assert.True(timeouts.TimedOut);
    }

    [Fact]
    public void InfiniteTimeout_OnlyTheCallerCancels()
    {
        using var caller = new CancellationTokenSource();
        using var timeouts = new CallTimeouts(caller.Token, Timeout.InfiniteTimeSpan, _time);

        _time.Advance(TimeSpan.FromDays(30));
        Assert.False(timeouts.Token.IsCancellationRequested);
        timeouts.Restart(TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.True(timeouts.TimedOut);
    }

    [Fact]
    public void Disposed_CallerCancelLater_DoesNotTouchIt()
    {
        using var caller = new CancellationTokenSource();
        var timeouts = new CallTimeouts(caller.Token, TimeSpan.FromSeconds(5), _time);
        var token = timeouts.Token;

        timeouts.Dispose();
        caller.Cancel();
        _time.Advance(TimeSpan.FromSeconds(10));

        Assert.False(token.IsCancellationRequested);
    }
}
