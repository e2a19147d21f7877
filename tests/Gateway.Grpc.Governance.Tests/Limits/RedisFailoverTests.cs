using System.Diagnostics;
using Gateway.Grpc.Governance.Limits;
using Gateway.Grpc.Governance.Tests.Infrastructure;
using Gateway.Grpc.TestSupport;
using Grpc.Core;
using StackExchange.Redis;

namespace Gateway.Grpc.Governance.Tests.Limits;

/// <summary>
/// failOpen / failClosed against a real redis-server that is killed, restarted on the same port,
/// paused, or not started yet; each test owns its server.
/// </summary>
public sealed class RedisFailoverTests : IAsyncLifetime
{
    private const int CommandTimeoutMs = 500;
    private readonly RedisLimits _limits = new();
    private RedisServer _redis = null!;

    public Task InitializeAsync()
    {
        _redis = RedisServer.NotStarted();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _limits.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task RedisKilled_FailOpen_ServesOnLocalLimitsThenSharesAgainAfterRestart()
    {
        await _redis.StartAsync();
        var failover = _limits.Failover(RedisLimits.Settings(_redis.Endpoint, commandTimeoutMs: CommandTimeoutMs), failOpen: true);
        var key = RedisLimits.UniqueKey("open");
        Assert.True((await failover.TryAcquireAsync(RedisLimits.Requests(key, 3), CancellationToken.None)).Allowed);
        Assert.False(failover.IsDegraded);

        _redis.Kill();

        // This replica's own counters, which started empty: the limit of 3 still holds locally.
        var admitted = 0;
        for (var i = 0; i < 5; i++)
        {
            admitted += (await failover.TryAcquireAsync(RedisLimits.Requests(key, 3), CancellationToken.None)).Allowed ? 1 : 0;
        }

        Assert.Equal(3, admitted);
        Assert.True(failover.IsDegraded);

        await _redis.StartAsync();
        var probe = RedisLimits.UniqueKey("probe");
        await Eventually.HoldsAsync(
            async () => { await failover.TryAcquireAsync(RedisLimits.Requests(probe, 1_000_000), CancellationToken.None); return !failover.IsDegraded; },
            "the replica reconnects by itself and decides on Redis again");

        // The restarted server started empty: a counter in it proves decisions are shared again.
        Assert.True((await failover.TryAcquireAsync(RedisLimits.Requests(key, 3), CancellationToken.None)).Allowed);
        var admin = await _limits.AdminAsync(_redis.Endpoint);
        Assert.True(await admin.KeyExistsAsync("gw:rl:" + key));
    }

    [Fact]
    public async Task RedisKilled_FailClosed_RefusesWithUnavailableThenRecovers()
    {
        await _redis.StartAsync();
        var failover = _limits.Failover(RedisLimits.Settings(_redis.Endpoint, commandTimeoutMs: CommandTimeoutMs), failOpen: false);
        var key = RedisLimits.UniqueKey("closed");
        Assert.True((await failover.TryAcquireAsync(RedisLimits.Requests(key, 100), CancellationToken.None)).Allowed);

        _redis.Kill();

        for (var i = 0; i < 3; i++)
        {
            var ex = await Assert.ThrowsAsync<RpcException>(async () => await failover.TryAcquireAsync(RedisLimits.Requests(key, 100), CancellationToken.None));
            Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
            Assert.Contains("Redis", ex.Status.Detail, StringComparison.Ordinal);
        }

        Assert.True(failover.IsDegraded);

        await _redis.StartAsync();
        await Eventually.HoldsAsync(
            async () => await TryAcquireOrUnavailableAsync(failover, key) is true,
            "calls are admitted again once Redis is back");
        Assert.False(failover.IsDegraded);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RedisDownAtStart_NothingBlocks_FollowsFailModeUntilItStarts(bool failOpen)
    {
        var started = Stopwatch.StartNew();
        var failover = _limits.Failover(RedisLimits.Settings(_redis.Endpoint, commandTimeoutMs: CommandTimeoutMs), failOpen);
        var key = RedisLimits.UniqueKey("late");

        var first = await TryAcquireOrUnavailableAsync(failover, key);

        // Served locally (fail-open) or refused (fail-closed) once the first connect gave up (3 attempts of 1 s at most).
        Assert.Equal(failOpen ? true : null, first);
        Assert.True(failover.IsDegraded);
        Assert.InRange(started.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));

        // Later calls do not wait again: the multiplexer exists and fails fast while disconnected.
        started.Restart();
        Assert.Equal(failOpen ? true : null, await TryAcquireOrUnavailableAsync(failover, key));
        Assert.InRange(started.Elapsed, TimeSpan.Zero, TimeSpan.FromMilliseconds(500));

        await _redis.StartAsync();
        await Eventually.HoldsAsync(
            async () => await TryAcquireOrUnavailableAsync(failover, key) is not null && !failover.IsDegraded,
            "the multiplexer connects by itself once Redis is up");
        var admin = await _limits.AdminAsync(_redis.Endpoint);
        Assert.True(await admin.KeyExistsAsync("gw:rl:" + key));
    }

    [Fact]
    public async Task RedisPaused_CommandTimesOut_FailOpenServesLocallyWithinTheTimeout()
    {
        await _redis.StartAsync();
        var failover = _limits.Failover(RedisLimits.Settings(_redis.Endpoint, commandTimeoutMs: CommandTimeoutMs), failOpen: true);
        var key = RedisLimits.UniqueKey("paused");
        Assert.True((await failover.TryAcquireAsync(RedisLimits.Requests(key, 10), CancellationToken.None)).Allowed);

        // The connection stays up but nothing is answered for 3 s.
        var admin = await _limits.AdminAsync(_redis.Endpoint);
        await admin.ExecuteAsync("CLIENT", "PAUSE", "3000", "ALL");
        var started = Stopwatch.StartNew();

        var result = await failover.TryAcquireAsync(RedisLimits.Requests(key, 10), CancellationToken.None);

        Assert.True(result.Allowed);
        Assert.True(failover.IsDegraded);
        Assert.InRange(started.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(2));

        await Eventually.HoldsAsync(
            async () => { await failover.TryAcquireAsync(RedisLimits.Requests(key, 10), CancellationToken.None); return !failover.IsDegraded; },
            "Redis answers again after the pause");
    }

    /// <summary>True admitted, false refused by the limit, null refused with UNAVAILABLE (fail-closed).</summary>
    private static async Task<bool?> TryAcquireOrUnavailableAsync(FailoverRateLimitBackend failover, string key)
    {
        try
        {
            return (await failover.TryAcquireAsync(RedisLimits.Requests(key, 100), CancellationToken.None)).Allowed;
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
        {
            return null;
        }
    }
}
