using System.Diagnostics;
using Gateway.Grpc.Governance.Limits;
using Gateway.Grpc.Governance.Tests.Infrastructure;
using Gateway.Grpc.TestSupport;
using StackExchange.Redis;

namespace Gateway.Grpc.Governance.Tests.Limits;

/// <summary>
/// The Lua scripts against a real redis-server, through two replicas that each hold their own
/// multiplexer: the counters are shared, and each script's answer is the one the limiter relies on.
/// </summary>
public sealed class RedisRateLimitBackendTests(SharedRedisFixture redis) : IClassFixture<SharedRedisFixture>, IAsyncLifetime
{
    private readonly RedisLimits _limits = new();
    private RedisRateLimitBackend _first = null!;
    private RedisRateLimitBackend _second = null!;

    public Task InitializeAsync()
    {
        _first = _limits.Replica(RedisLimits.Settings(redis.Server.Endpoint));
        _second = _limits.Replica(RedisLimits.Settings(redis.Server.Endpoint));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _limits.DisposeAsync();

    [Theory]
    [InlineData(LimitAlgorithm.SlidingWindow)]
    [InlineData(LimitAlgorithm.Gcra)]
    public async Task TwoReplicas_RequestsPerMinute_AdmitTheLimitBetweenThem(LimitAlgorithm algorithm)
    {
        var key = RedisLimits.UniqueKey("rpm");
        var admitted = 0;
        for (var i = 0; i < 40; i++)
        {
            var replica = i % 2 == 0 ? _first : _second;
            if ((await replica.TryAcquireAsync(RedisLimits.Requests(key, 25, algorithm), CancellationToken.None)).Allowed)
            {
                admitted++;
            }
        }

        // Counting per replica would admit 2 x 25.
        Assert.Equal(25, admitted);
    }

    [Fact]
    public async Task SlidingWindow_AcquireThenRefuse_ReportsRemainingRetryAfterAndReset()
    {
        var key = RedisLimits.UniqueKey("sw");
        var clock = Stopwatch.StartNew();
        var first = await _first.TryAcquireAsync(RedisLimits.Tokens(key, 1000, 600), CancellationToken.None);
        Assert.True(first.Allowed);
        Assert.Equal(400, first.Remaining);
        Assert.Equal(TimeSpan.Zero, first.RetryAfter);
        Assert.InRange(first.Reset, TimeSpan.FromSeconds(59), TimeSpan.FromSeconds(60));
        Assert.True(first.Reservation > 0, "the reservation names the one-second bucket the tokens went into");

        var refused = await _second.TryAcquireAsync(RedisLimits.Tokens(key, 1000, 500), CancellationToken.None);
        Assert.False(refused.Allowed);
        Assert.Equal(400, refused.Remaining);
        // The first call's bucket leaves the window 60 s after it opened, less the time this test has
        // taken since (a busy machine can stretch that past a second).
        Assert.InRange(refused.RetryAfter, TimeSpan.FromSeconds(58) - clock.Elapsed, TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task SlidingWindow_AdjustNegativeDelta_ReturnsUnusedTokensToEveryReplica()
    {
        var key = RedisLimits.UniqueKey("tpm");
        var reserved = await _first.TryAcquireAsync(RedisLimits.Tokens(key, 1000, 600), CancellationToken.None);
        Assert.True(reserved.Allowed);
        Assert.False((await _second.TryAcquireAsync(RedisLimits.Tokens(key, 1000, 500), CancellationToken.None)).Allowed);

        // The call used 300 of the 600 it reserved.
        await _first.AdjustTokensAsync(key, 1000, LimitAlgorithm.SlidingWindow, reserved.Reservation, -300, CancellationToken.None);

        var after = await _second.TryAcquireAsync(RedisLimits.Tokens(key, 1000, 500), CancellationToken.None);
        Assert.True(after.Allowed);
        Assert.Equal(200, after.Remaining);
    }

    [Fact]
    public async Task Gcra_AdjustNegativeDelta_ReturnsUnusedTokens()
    {
        var key = RedisLimits.UniqueKey("gcra");
        var clock = Stopwatch.StartNew();
        var reserved = await _first.TryAcquireAsync(RedisLimits.Tokens(key, 1000, 600, LimitAlgorithm.Gcra), CancellationToken.None);
        Assert.True(reserved.Allowed);
        Assert.InRange(reserved.Remaining, 399, 400);
        var refused = await _second.TryAcquireAsync(RedisLimits.Tokens(key, 1000, 700, LimitAlgorithm.Gcra), CancellationToken.None);
        var between = clock.Elapsed;
        Assert.False(refused.Allowed);
        // 300 tokens short at 1000 per minute: 18 s until they have refilled, less what refilled
        // between the two calls (a busy machine can stretch that past a second).
        Assert.InRange(refused.RetryAfter, TimeSpan.FromSeconds(17) - between, TimeSpan.FromSeconds(18.1));

        await _first.AdjustTokensAsync(key, 1000, LimitAlgorithm.Gcra, reserved.Reservation, -300, CancellationToken.None);

        Assert.True((await _second.TryAcquireAsync(RedisLimits.Tokens(key, 1000, 650, LimitAlgorithm.Gcra), CancellationToken.None)).Allowed);
    }

    [Fact]
    public async Task Concurrency_LeasesAreSharedAndReleaseFreesOne()
    {
        var key = RedisLimits.UniqueKey("conc");
        Assert.True((await _first.TryAcquireAsync(RedisLimits.Lease(key, 2, "a"), CancellationToken.None)).Allowed);
        Assert.True((await _second.TryAcquireAsync(RedisLimits.Lease(key, 2, "b"), CancellationToken.None)).Allowed);
        Assert.False((await _first.TryAcquireAsync(RedisLimits.Lease(key, 2, "c"), CancellationToken.None)).Allowed);

        await _second.ReleaseAsync(key, "a", CancellationToken.None);

        var third = await _first.TryAcquireAsync(RedisLimits.Lease(key, 2, "c"), CancellationToken.None);
        Assert.True(third.Allowed);
        Assert.Equal(0, third.Remaining);
    }

    [Fact]
    public async Task ScriptsFlushed_AsAfterARestart_NextDecisionStillRuns()
    {
        var key = RedisLimits.UniqueKey("flush");
        Assert.True((await _first.TryAcquireAsync(RedisLimits.Requests(key, 5), CancellationToken.None)).Allowed);

        var admin = await _limits.AdminAsync(redis.Server.Endpoint);
        await admin.ExecuteAsync("SCRIPT", "FLUSH");

        // Sent by SHA1 the server no longer knows: the library must resend the source, not surface NOSCRIPT.
        var after = await _first.TryAcquireAsync(RedisLimits.Requests(key, 5), CancellationToken.None);
        Assert.True(after.Allowed);
        Assert.Equal(3, after.Remaining);
    }

    [Fact]
    public async Task KeyHoldsAnotherType_ScriptError_PropagatesInsteadOfFailingOver()
    {
        var key = RedisLimits.UniqueKey("wrongtype");
        var admin = await _limits.AdminAsync(redis.Server.Endpoint);
        await admin.ListLeftPushAsync("gw:rl:" + key, "not a counter");
        var failover = _limits.Failover(RedisLimits.Settings(redis.Server.Endpoint), failOpen: true);

        var ex = await Assert.ThrowsAsync<RedisServerException>(async () => await failover.TryAcquireAsync(RedisLimits.Requests(key, 5), CancellationToken.None));

        Assert.Contains("WRONGTYPE", ex.Message, StringComparison.Ordinal);
        Assert.False(failover.IsDegraded);
    }

    [Fact]
    public async Task Acquire_WritesUnderTheGatewayPrefix()
    {
        var key = RedisLimits.UniqueKey("prefix");
        await _first.TryAcquireAsync(RedisLimits.Requests(key, 5), CancellationToken.None);

        var admin = await _limits.AdminAsync(redis.Server.Endpoint);
        Assert.Equal(RedisType.Hash, await admin.KeyTypeAsync("gw:rl:" + key));
        Assert.InRange((await admin.KeyTimeToLiveAsync("gw:rl:" + key))!.Value, TimeSpan.FromSeconds(100), TimeSpan.FromSeconds(120));
    }
}
