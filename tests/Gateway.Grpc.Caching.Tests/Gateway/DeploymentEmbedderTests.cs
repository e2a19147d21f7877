using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Pricing;
using Gateway.Grpc.Governance.Storage;
using Gateway.V1;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Caching.Tests.Gateway;

/// <summary><c>cache.semantic.embedder: model:NAME</c>: prompts embedded by a configured embeddings deployment.</summary>
[Collection("EndToEnd")]
public sealed class DeploymentEmbedderTests(SimulatorFixture sim)
{
    private async Task<GatewayHost> StartAsync(Dictionary<string, string>? embeddingFaults = null)
    {
        var embeddings = sim.Deployment("openai", "emb-1", embeddingFaults) with { UpstreamModel = "text-embedding-3-small" };
        var config = new GatewayConfig()
            .Model("m", [sim.Deployment("openai", "openai-1")])
            .Model("emb", [embeddings])
            .Set("cache:enabled", "true")
            .Set("cache:semantic:enabled", "true")
            .Set("cache:semantic:embedder", "model:emb");
        return await GatewayHost.StartAsync(config.Build());
    }

    [Fact]
    public async Task Miss_EmbedsTheLastUserTurnThroughTheDeployment_AndIndexesIt()
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync();

        var first = await gateway.CompleteAsync(Requests.Chat("m", "What is the capital of France?"));
        var again = await gateway.CompleteAsync(Requests.Chat("m", "What is the capital of France?"));

        Assert.Equal(CacheStatus.Miss, first.Routing.Cache.Status);
        Assert.Equal(CacheStatus.HitExact, again.Routing.Cache.Status);
        var records = sim.RequestsSince(since);
        var embedding = Assert.Single(records, static r => r.Path.EndsWith("/embeddings", StringComparison.Ordinal));
        Assert.Contains("What is the capital of France?", embedding.Body, StringComparison.Ordinal);
        Assert.Single(records, static r => r.Path.EndsWith("/chat/completions", StringComparison.Ordinal));
        Assert.Equal(1, gateway.App.Services.GetRequiredService<ResponseCache>().Index!.Count);
    }

    [Fact]
    public async Task EmbeddingCall_IsTheGatewaysOwnLedgerRow_PricedWithNoKeyOrTeam()
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync();

        var answer = await gateway.CompleteAsync(Requests.Chat("m", "How many moons has Mars?"));

        await gateway.App.Services.GetRequiredService<LedgerWriter>().FlushAsync();
        var rows = ((InMemoryGovernanceStore)gateway.App.Services.GetRequiredService<IGovernanceStore>()).Ledger.ToArray();
        var embed = Assert.Single(rows, static r => r.Route == "cache_embed");
        var served = Assert.Single(sim.RequestsSince(since), static r => r.Path.EndsWith("/embeddings", StringComparison.Ordinal));
        Assert.Equal("emb", embed.Model);
        Assert.Equal("emb-1", embed.Deployment);
        Assert.Null(embed.KeyId);
        Assert.Null(embed.TeamId);
        Assert.True(embed.InputTokens > 0);
        // text-embedding-3-small's price applied to the tokens the provider reported.
        var price = gateway.App.Services.GetRequiredService<IPricing>().Cost("text-embedding-3-small", embed.InputTokens, 0, 0, out var known);
        Assert.True(known);
        Assert.True(price > 0);
        Assert.Equal(price, embed.CostUsd);
        // The caller's own row is billed only for its completion.
        var call = Assert.Single(rows, static r => r.Route != "cache_embed");
        Assert.Equal((double)call.CostUsd, answer.Usage.CostUsd, 9);
        Assert.NotNull(served);
    }

    [Fact]
    public async Task EmbeddingsDeploymentFailing_CallsAreStillServedAndCachedExactly()
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync(new() { ["x-sim-status"] = "500" });

        var first = await gateway.CompleteAsync(Requests.Chat("m"));
        var again = await gateway.CompleteAsync(Requests.Chat("m"));

        Assert.Equal(CacheStatus.Miss, first.Routing.Cache.Status);
        Assert.Equal(CacheStatus.HitExact, again.Routing.Cache.Status);
        Assert.Equal(0, gateway.App.Services.GetRequiredService<ResponseCache>().Index!.Count);
        Assert.Single(sim.RequestsSince(since), static r => r.Path.EndsWith("/chat/completions", StringComparison.Ordinal));
    }
}
