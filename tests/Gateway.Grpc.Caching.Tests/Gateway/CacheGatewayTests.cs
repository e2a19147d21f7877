using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Storage;
using Gateway.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Caching.Tests.Gateway;

/// <summary>
/// The cache in the real gateway, in front of the provider simulator (OpenAI wire format):
/// both doors, both call kinds, accounting, and answers that must never be cached.
/// </summary>
[Collection("EndToEnd")]
public sealed class CacheGatewayTests(SimulatorFixture sim)
{
    private async Task<GatewayHost> StartAsync(Dictionary<string, string>? faults = null, Action<GatewayConfig>? configure = null)
    {
        var config = new GatewayConfig().Model("m", [sim.Deployment("openai", "openai-1", faults)]).Set("cache:enabled", "true");
        configure?.Invoke(config);
        return await GatewayHost.StartAsync(config.Build());
    }

    private static async Task<IReadOnlyList<LedgerEntry>> LedgerAsync(GatewayHost gateway)
    {
        await gateway.App.Services.GetRequiredService<LedgerWriter>().FlushAsync();
        return [.. ((InMemoryGovernanceStore)gateway.App.Services.GetRequiredService<IGovernanceStore>()).Ledger.OrderBy(static r => r.Timestamp)];
    }

    private static Uri HttpAddress(GatewayHost gateway)
        => new(gateway.App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray()[1]);

    [Fact]
    public async Task Complete_SameRequestTwice_SecondIsExactHit_NoUpstreamCall_LedgerCostZeroWithSaving()
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync();

        var first = await gateway.CompleteAsync(Requests.Chat("m"));
        var second = await gateway.CompleteAsync(Requests.Chat("m"));

        Assert.Equal(CacheStatus.Miss, first.Routing.Cache.Status);
        Assert.Equal(CacheStatus.HitExact, second.Routing.Cache.Status);
        Assert.Equal(first.Message.Content, second.Message.Content);
        Assert.Equal(first.Usage.InputTokens, second.Usage.InputTokens);
        Assert.Equal(first.Usage.OutputTokens, second.Usage.OutputTokens);
        Assert.True(first.Usage.CostUsd > 0);
        Assert.Equal(0, second.Usage.CostUsd);
        Assert.Equal(first.Usage.CostUsd, second.Routing.Cache.SavedCostUsd, 9);
        Assert.NotEqual(first.Id, second.Id);
        Assert.Single(sim.RequestsSince(since));

        var rows = await LedgerAsync(gateway);
        Assert.Equal(2, rows.Count);
        Assert.Equal("", rows[0].Cache);
        Assert.Equal("hit_exact", rows[1].Cache);
        Assert.Equal(0m, rows[1].CostUsd);
        Assert.Equal(0, rows[1].InputTokens + rows[1].OutputTokens);
        Assert.Equal(rows[0].CostUsd, rows[1].SavedCostUsd);
    }

    [Fact]
    public async Task AdminUsage_CountsHitsAndSumsTheCostSaved()
    {
        const string variable = "GATEWAY_TEST_CACHE_USAGE_MASTER";
        const string master = "cache-usage-master-key-0123456789";
        Environment.SetEnvironmentVariable(variable, master);
        sim.Reset();
        await using var gateway = await StartAsync(configure: c => c.Set("auth:masterKey", "env:" + variable).Set("auth:requireKeys", "false"));

        var first = await gateway.CompleteAsync(Requests.Chat("m", "Usage question."));
        await gateway.CompleteAsync(Requests.Chat("m", "Usage question."));
        await gateway.CompleteAsync(Requests.Chat("m", "Usage question."));
        await gateway.App.Services.GetRequiredService<LedgerWriter>().FlushAsync();

        var usage = await new global::Gateway.Admin.V1.AdminService.AdminServiceClient(gateway.Channel).GetUsageAsync(
            new global::Gateway.Admin.V1.GetUsageRequest { Model = "m", GroupBy = { global::Gateway.Admin.V1.UsageGroup.Model } },
            new CallOptions(headers: new Metadata { { "authorization", "Bearer " + master } })).ResponseAsync;

        var row = Assert.Single(usage.Rows);
        Assert.Equal(3, row.Requests);
        Assert.Equal(2, row.CacheHits);
        Assert.Equal(first.Usage.CostUsd, row.CostUsd, 9);
        Assert.Equal(2 * first.Usage.CostUsd, row.SavedCostUsd, 9);

        // The same figures through the JSON transcoding of the admin API.
        using var http = new HttpClient { BaseAddress = HttpAddress(gateway) };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/admin/usage?model=m&groupBy=USAGE_GROUP_MODEL");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", master);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("rows")[0];
        Assert.Equal(2, json.GetProperty("cacheHits").GetInt64());
        Assert.Equal(2 * first.Usage.CostUsd, json.GetProperty("savedCostUsd").GetDouble(), 9);
    }

    [Fact]
    public async Task Complete_DifferentPrompt_Misses()
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync();
        await gateway.CompleteAsync(Requests.Chat("m", "First question."));
        var other = await gateway.CompleteAsync(Requests.Chat("m", "Second question."));
        Assert.Equal(CacheStatus.Miss, other.Routing.Cache.Status);
        Assert.Equal(2, sim.RequestsSince(since).Count);
    }

    [Fact]
    public async Task StreamComplete_Hit_ReplaysIdenticalTextUsageAndFinish_AsTypedEvents()
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync();
        var request = Requests.Chat("m", "Tell me about caches.", 40);

        var live = await gateway.StreamAsync(request);
        var replay = await gateway.StreamAsync(request);

        Assert.Equal(StatusCode.OK, live.Status.StatusCode);
        Assert.Equal(StatusCode.OK, replay.Status.StatusCode);
        Assert.Equal(CacheStatus.Miss, live.Finish!.Routing.Cache.Status);
        Assert.Equal(CacheStatus.HitExact, replay.Finish!.Routing.Cache.Status);
        Assert.NotEmpty(live.Text);
        Assert.Equal(live.Text, replay.Text);
        Assert.Equal(live.Usage!.InputTokens, replay.Usage!.InputTokens);
        Assert.Equal(live.Usage.OutputTokens, replay.Usage.OutputTokens);
        Assert.Equal(0, replay.Usage.CostUsd);
        Assert.Equal(live.Finish.Reason, replay.Finish.Reason);
        Assert.Equal(CompletionChunk.EventOneofCase.Start, replay.Events[0].EventCase);
        Assert.Equal(CompletionChunk.EventOneofCase.Usage, replay.Events[^2].EventCase);
        Assert.Equal(CompletionChunk.EventOneofCase.Finish, replay.Events[^1].EventCase);
        Assert.True(replay.Events.Count(static e => e.EventCase == CompletionChunk.EventOneofCase.Delta) > 1, replay.Describe());

        // The unary door serves the same stored answer.
        var unary = await gateway.CompleteAsync(request);
        Assert.Equal(CacheStatus.HitExact, unary.Routing.Cache.Status);
        Assert.Equal(live.Text, unary.Message.Content);
        Assert.Single(sim.RequestsSince(since));
    }

    [Theory]
    [InlineData("x-sim-disconnect-after")]
    [InlineData("x-sim-error-after")]
    public async Task StreamComplete_TruncatedUpstream_IsNeverCached(string fault)
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync(new() { [fault] = "3", ["x-sim-output-tokens"] = "40" });
        var request = Requests.Chat("m", "Tell me about caches.", 64);

        var first = await gateway.StreamAsync(request);
        var second = await gateway.StreamAsync(request);

        Assert.NotEqual(StatusCode.OK, first.Status.StatusCode);
        Assert.Null(first.Finish);
        Assert.NotEmpty(first.Text);
        Assert.NotEqual(StatusCode.OK, second.Status.StatusCode);
        Assert.Null(second.Finish);
        Assert.Equal(2, sim.RequestsSince(since).Count);
        var rows = await LedgerAsync(gateway);
        Assert.All(rows, static r => Assert.Equal("", r.Cache));
    }

    [Fact]
    public async Task CacheHeader_NoCache_GoesUpstream_NoStore_KeepsNothing_Garbage_IsInvalidArgument()
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync();
        var noStore = await gateway.CompleteAsync(Requests.Chat("m"), new CallOptions(new Metadata { { "cache", "no-store" } }));
        Assert.Equal(CacheStatus.Miss, noStore.Routing.Cache.Status);
        var stored = await gateway.CompleteAsync(Requests.Chat("m"));
        Assert.Equal(CacheStatus.Miss, stored.Routing.Cache.Status);
        var noCache = await gateway.CompleteAsync(Requests.Chat("m"), new CallOptions(new Metadata { { "cache", "no-cache" } }));
        Assert.Equal(CacheStatus.Bypass, noCache.Routing.Cache.Status);
        Assert.Equal(3, sim.RequestsSince(since).Count);
        var hit = await gateway.CompleteAsync(Requests.Chat("m"));
        Assert.Equal(CacheStatus.HitExact, hit.Routing.Cache.Status);
        Assert.Equal(3, sim.RequestsSince(since).Count);

        var bad = await gateway.CompleteFailsAsync(Requests.Chat("m"), new CallOptions(new Metadata { { "cache", "ttl=forever" } }));
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains("cache: 'ttl=forever'", bad.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Temperature_AboveZero_IsNotCachedByDefault()
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync();
        var request = Requests.Chat("m");
        request.Temperature = 0.8;
        var first = await gateway.CompleteAsync(request);
        var second = await gateway.CompleteAsync(request);
        Assert.Equal(CacheStatus.Bypass, first.Routing.Cache.Status);
        Assert.Equal(CacheStatus.Bypass, second.Routing.Cache.Status);
        Assert.Equal(2, sim.RequestsSince(since).Count);
    }

    [Fact]
    public async Task RateLimit_HitsStillCountAsRequests()
    {
        sim.Reset();
        await using var gateway = await StartAsync(configure: c => c.Set("models:0:requestsPerMinute", "2"));
        await gateway.CompleteAsync(Requests.Chat("m"));
        var hit = await gateway.CompleteAsync(Requests.Chat("m"));
        Assert.Equal(CacheStatus.HitExact, hit.Routing.Cache.Status);
        var refused = await gateway.CompleteFailsAsync(Requests.Chat("m"));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
    }

    [Fact]
    public async Task CachingOff_ByDefault_NoCacheInfoAndEveryCallGoesUpstream()
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig().Model("m", [sim.Deployment("openai", "openai-1")]).Build());
        var first = await gateway.CompleteAsync(Requests.Chat("m"));
        await gateway.CompleteAsync(Requests.Chat("m"));
        Assert.Null(first.Routing.Cache);
        Assert.Equal(2, sim.RequestsSince(since).Count);
    }

    [Fact]
    public async Task Rest_SecondCall_ServedFromCache_WithHeader_AndBadHeaderIsAnOpenAiError()
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync();
        using var http = new HttpClient { BaseAddress = HttpAddress(gateway) };
        var body = new { model = "m", seed = 7, max_tokens = 12, messages = new[] { new { role = "user", content = "Tell me about gateways." } } };

        using var first = await http.PostAsJsonAsync("/v1/chat/completions", body);
        using var second = await http.PostAsJsonAsync("/v1/chat/completions", body);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("miss", first.Headers.GetValues("x-gateway-cache").Single());
        Assert.Equal("hit-exact", second.Headers.GetValues("x-gateway-cache").Single());
        using var a = JsonDocument.Parse(await first.Content.ReadAsStringAsync());
        using var b = JsonDocument.Parse(await second.Content.ReadAsStringAsync());
        Assert.Equal(
            a.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(),
            b.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Single(sim.RequestsSince(since));

        // The gRPC door shares the REST door's answers (one pipeline, one cache).
        var grpc = await gateway.CompleteAsync(Requests.Chat("m"));
        Assert.Equal(CacheStatus.HitExact, grpc.Routing.Cache.Status);

        using var bad = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(body) };
        bad.Headers.Add("cache", "sometimes");
        using var refused = await http.SendAsync(bad);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        Assert.Contains("cache: 'sometimes'", error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}
