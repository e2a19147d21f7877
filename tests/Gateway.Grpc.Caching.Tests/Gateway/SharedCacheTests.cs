using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.TestSupport;
using Gateway.V1;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Caching.Tests.Gateway;

/// <summary>Two gateways sharing one real redis-server share their cached answers, exact and semantic.</summary>
[Collection("EndToEnd")]
public sealed class SharedCacheTests(SimulatorFixture sim)
{
    private async Task<GatewayHost> StartAsync(RedisServer redis, bool semantic = false)
    {
        var config = new GatewayConfig().Model("m", [sim.Deployment("openai", "openai-1")])
            .Set("cache:enabled", "true")
            .Set("cache:backend", "redis")
            .Set("cache:redis:endpoint", redis.Endpoint);
        if (semantic)
        {
            config.Set("cache:semantic:enabled", "true").Set("cache:semantic:threshold", "0.9");
        }

        return await GatewayHost.StartAsync(config.Build());
    }

    [Fact]
    public async Task TwoGateways_OneRedis_AnswerCachedByOneIsAHitOnTheOther()
    {
        var since = sim.Reset();
        await using var redis = await RedisServer.StartAsync();
        await using var a = await StartAsync(redis);
        await using var b = await StartAsync(redis);

        var first = await a.CompleteAsync(Requests.Chat("m"));
        var second = await b.CompleteAsync(Requests.Chat("m"));

        Assert.Equal(CacheStatus.Miss, first.Routing.Cache.Status);
        Assert.Equal(CacheStatus.HitExact, second.Routing.Cache.Status);
        Assert.Equal(first.Message.Content, second.Message.Content);
        Assert.Single(sim.RequestsSince(since));

        await using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var server = admin.GetServers()[0];
        var keys = server.Keys(pattern: "gw:cache:x:*").ToArray();
        var key = Assert.Single(keys);
        var ttl = await admin.GetDatabase().KeyTimeToLiveAsync(key);
        Assert.InRange(ttl!.Value.TotalSeconds, 3000, 3600);
    }

    [Fact]
    public async Task TwoGateways_OneRedis_SemanticEntryReachesTheOtherReplicaByPubSub()
    {
        var since = sim.Reset();
        await using var redis = await RedisServer.StartAsync();
        await using var a = await StartAsync(redis, semantic: true);
        await using var b = await StartAsync(redis, semantic: true);
        var bIndex = b.App.Services.GetRequiredService<ResponseCache>().Index!;

        var first = await a.CompleteAsync(Requests.Chat("m", "What is the capital of France?"));
        Assert.Equal(CacheStatus.Miss, first.Routing.Cache.Status);

        // Pub/sub is asynchronous: wait (bounded) for replica b to index what replica a stored.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (bIndex.Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "replica b never heard of replica a's entry");
            await Task.Delay(20);
        }

        var paraphrase = await b.CompleteAsync(Requests.Chat("m", "What's the capital of France?"));
        Assert.Equal(CacheStatus.HitSemantic, paraphrase.Routing.Cache.Status);
        Assert.InRange(paraphrase.Routing.Cache.Similarity, 0.9, 1.0);
        Assert.Equal(first.Message.Content, paraphrase.Message.Content);
        Assert.Single(sim.RequestsSince(since));

        // A replica started later loads the shared entries from Redis.
        await using var c = await StartAsync(redis, semantic: true);
        var cIndex = c.App.Services.GetRequiredService<ResponseCache>().Index!;
        deadline = DateTime.UtcNow.AddSeconds(10);
        while (cIndex.Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "replica c did not load the entries in Redis");
            await Task.Delay(20);
        }

        var late = await c.CompleteAsync(Requests.Chat("m", "What's the capital of France?"));
        Assert.Equal(CacheStatus.HitSemantic, late.Routing.Cache.Status);
        Assert.Single(sim.RequestsSince(since));
    }

    [Fact]
    public async Task RedisDown_CacheMisses_CallsAreStillServed()
    {
        var since = sim.Reset();
        var redis = await RedisServer.StartAsync();
        await using var gateway = await StartAsync(redis);
        await gateway.CompleteAsync(Requests.Chat("m"));
        await redis.DisposeAsync();

        var served = await gateway.CompleteAsync(Requests.Chat("m"));

        Assert.Equal(CacheStatus.Miss, served.Routing.Cache.Status);
        Assert.Equal(2, sim.RequestsSince(since).Count);
    }
}
