using Gateway.Grpc.Redis.Tests.Infrastructure;

namespace Gateway.Grpc.Redis.Tests;

/// <summary>Connection loss and recovery against real redis-server processes that the tests kill and restart.</summary>
public sealed class RedisReconnectTests
{
    [Fact]
    public async Task ServerKilled_IsConnectedTurnsFalseEventFiresAndCommandsFailFast()
    {
        await using var server = await RedisServer.StartAsync();
        await using var redis = await ConnectAsync(server.Endpoint);
        var states = new StateRecorder(redis);
        Assert.True(redis.IsConnected);

        server.Kill();

        var lost = await states.NextAsync();
        Assert.False(lost.IsConnected);
        Assert.Equal(server.Endpoint, lost.Endpoint);
        Assert.IsType<RedisConnectionException>(lost.Exception);
        Assert.False(redis.IsConnected);

        var call = redis.StringGetAsync("k");
        Assert.True(call.IsFaulted, "a command while disconnected must fail at once, not wait");
        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => call);
        Assert.Contains("not connected to Redis at " + server.Endpoint, ex.Message, StringComparison.Ordinal);
        Assert.Contains("fail fast", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerKilledWithCommandInFlight_CommandFailsWithConnectionException()
    {
        await using var server = await RedisServer.StartAsync();
        await using var control = await ConnectAsync(server.Endpoint);
        await using var redis = await ConnectAsync(server.Endpoint);
        await control.ExecuteAsync("CLIENT", "PAUSE", 10_000, "WRITE");
        var incr = redis.IncrByAsync("n");
        await Wait.UntilAsync(() => redis.Current!.InFlight == 1, "INCRBY was written");

        server.Kill();

        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => incr);
        Assert.Contains("INCRBY failed", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Whether it ran on the server is unknown", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerRestarted_ReconnectsAndCommandsSucceedAgain()
    {
        await using var server = await RedisServer.StartAsync();
        await using var redis = await ConnectAsync(server.Endpoint);
        var states = new StateRecorder(redis);
        await redis.StringSetAsync("before", "1");

        server.Kill();
        Assert.False((await states.NextAsync()).IsConnected);
        await server.StartAsync(); // same port, empty data set

        var back = await states.NextAsync();
        Assert.True(back.IsConnected);
        Assert.Null(back.Exception);
        Assert.True(redis.IsConnected);
        Assert.Null(await redis.StringGetAsync("before"));
        Assert.Equal(1, await redis.IncrByAsync("after"));
    }

    [Fact]
    public async Task ServerRestarted_SubscriptionsAreMadeAgain()
    {
        await using var server = await RedisServer.StartAsync();
        await using var redis = await ConnectAsync(server.Endpoint);
        var states = new StateRecorder(redis);
        var messages = System.Threading.Channels.Channel.CreateUnbounded<string>();
        await using var subscription = await redis.SubscribeAsync("revocations", m => messages.Writer.TryWrite(m.Text));

        server.Kill();
        Assert.False((await states.NextAsync(RedisConnectionKind.Subscription)).IsConnected);
        Assert.False((await states.NextAsync(RedisConnectionKind.Interactive)).IsConnected);
        await server.StartAsync();
        Assert.True((await states.NextAsync(RedisConnectionKind.Subscription)).IsConnected);
        Assert.True((await states.NextAsync(RedisConnectionKind.Interactive)).IsConnected);

        // SUBSCRIBE is sent right after the reconnect event; publish until the server counts the subscriber.
        await Wait.UntilAsync(() => redis.PublishAsync("revocations", "key-1").Result == 1, "the channel was subscribed again");
        Assert.Equal("key-1", await messages.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task NoServerAtStart_WithAbortOnConnectFailFalse_ConnectsWhenItComesUp()
    {
        await using var server = RedisServer.NotStarted();
        await using var redis = await RedisConnection.ConnectAsync(new RedisOptions
        {
            Endpoint = server.Endpoint,
            AbortOnConnectFail = false,
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
        });
        var states = new StateRecorder(redis);

        Assert.False(redis.IsConnected);
        var early = await Assert.ThrowsAsync<RedisConnectionException>(() => redis.StringGetAsync("k"));
        Assert.Contains("Last error: Could not connect to Redis at " + server.Endpoint, early.Message, StringComparison.Ordinal);

        await server.StartAsync();

        Assert.True((await states.NextAsync()).IsConnected);
        Assert.Equal(3, await redis.IncrByAsync("k", 3));
    }

    [Fact]
    public async Task NoServerAtStart_ByDefault_ConnectThrowsNamingTheEndpoint()
    {
        var endpoint = "127.0.0.1:" + RedisServer.FreePort();

        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => ConnectAsync(endpoint));

        Assert.Contains("Could not connect to Redis at " + endpoint, ex.Message, StringComparison.Ordinal);
    }

    private static Task<RedisConnection> ConnectAsync(string endpoint)
        => RedisConnection.ConnectAsync(new RedisOptions { Endpoint = endpoint, ReconnectMaxDelay = TimeSpan.FromMilliseconds(200) });
}
