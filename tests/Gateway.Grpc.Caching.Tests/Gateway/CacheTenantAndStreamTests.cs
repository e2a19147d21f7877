using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Gateway.Admin.V1;
using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Caching.Tests.Gateway;

/// <summary>Tenant isolation with real virtual keys and teams; stream hits through SSE and semantic replays.</summary>
[Collection("EndToEnd")]
public sealed class CacheTenantAndStreamTests(SimulatorFixture sim)
{
    private static CallOptions As(string key) => new(new Metadata { { "authorization", "Bearer " + key } });

    [Fact]
    public async Task TeamPartition_KeysOfATeamShare_AnotherTeamNeverGetsTheAnswer()
    {
        var since = sim.Reset();
        var variable = "GW_CACHE_MASTER_" + Guid.NewGuid().ToString("N");
        var master = "master-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, master);
        var config = new GatewayConfig().Model("m", [sim.Deployment("openai", "openai-1")])
            .Set("cache:enabled", "true")
            .Set("auth:masterKey", "env:" + variable);
        await using var gateway = await GatewayHost.StartAsync(config.Build());
        var admin = new AdminService.AdminServiceClient(gateway.Channel);
        var teamA = (await admin.CreateTeamAsync(new CreateTeamRequest { Team = new Team { Name = "a" } }, As(master))).Team;
        var teamB = (await admin.CreateTeamAsync(new CreateTeamRequest { Team = new Team { Name = "b" } }, As(master))).Team;
        var a1 = (await admin.CreateKeyAsync(new CreateKeyRequest { Key = new Key { TeamId = teamA.Id } }, As(master))).Secret;
        var a2 = (await admin.CreateKeyAsync(new CreateKeyRequest { Key = new Key { TeamId = teamA.Id } }, As(master))).Secret;
        var b1 = (await admin.CreateKeyAsync(new CreateKeyRequest { Key = new Key { TeamId = teamB.Id } }, As(master))).Secret;

        var first = await gateway.CompleteAsync(Requests.Chat("m"), As(a1));
        var sameTeam = await gateway.CompleteAsync(Requests.Chat("m"), As(a2));
        var otherTeam = await gateway.CompleteAsync(Requests.Chat("m"), As(b1));
        var otherTeamAgain = await gateway.CompleteAsync(Requests.Chat("m"), As(b1));

        Assert.Equal(CacheStatus.Miss, first.Routing.Cache.Status);
        Assert.Equal(CacheStatus.HitExact, sameTeam.Routing.Cache.Status);
        Assert.Equal(CacheStatus.Miss, otherTeam.Routing.Cache.Status);
        Assert.Equal(CacheStatus.HitExact, otherTeamAgain.Routing.Cache.Status);
        Assert.Equal(2, sim.RequestsSince(since).Count);
    }

    [Fact]
    public async Task RestStream_Hit_ReplaysTheSameTextAsServerSentEvents()
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig().Model("m", [sim.Deployment("openai", "openai-1")]).Set("cache:enabled", "true").Build());
        var addresses = gateway.App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        using var http = new HttpClient { BaseAddress = new Uri(addresses[1]) };
        var body = new { model = "m", seed = 7, max_tokens = 30, stream = true, messages = new[] { new { role = "user", content = "Stream me something." } } };

        async Task<(string Text, string? Cache, bool Done)> StreamAsync()
        {
            using var response = await http.PostAsJsonAsync("/v1/chat/completions", body);
            response.EnsureSuccessStatusCode();
            var text = new StringBuilder();
            var done = false;
            foreach (var line in (await response.Content.ReadAsStringAsync()).Split('\n'))
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    continue;
                }

                var data = line[6..].Trim();
                if (data == "[DONE]")
                {
                    done = true;
                    continue;
                }

                using var json = JsonDocument.Parse(data);
                if (json.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                    && choices[0].GetProperty("delta").TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
                {
                    text.Append(content.GetString());
                }
            }

            return (text.ToString(), response.Headers.TryGetValues("x-gateway-cache", out var values) ? values.Single() : null, done);
        }

        var live = await StreamAsync();
        var replay = await StreamAsync();

        Assert.Equal("miss", live.Cache);
        Assert.Equal("hit-exact", replay.Cache);
        Assert.NotEmpty(live.Text);
        Assert.Equal(live.Text, replay.Text);
        Assert.True(replay.Done);
        Assert.Single(sim.RequestsSince(since));
    }

    [Fact]
    public async Task StreamComplete_SemanticHit_ReplaysTheCachedAnswerWithItsScore()
    {
        var since = sim.Reset();
        var config = new GatewayConfig().Model("m", [sim.Deployment("openai", "openai-1")])
            .Set("cache:enabled", "true")
            .Set("cache:semantic:enabled", "true")
            .Set("cache:semantic:threshold", "0.9");
        await using var gateway = await GatewayHost.StartAsync(config.Build());

        var live = await gateway.StreamAsync(Requests.Chat("m", "What is the capital of France?", 30));
        using var call = new Completion.CompletionClient(gateway.Channel).StreamComplete(Requests.Chat("m", "What's the capital of France?", 30));
        var headers = await call.ResponseHeadersAsync;
        Assert.Equal("hit-semantic", headers.GetValue("x-gateway-cache"));
        Assert.InRange(double.Parse(headers.GetValue("x-gateway-cache-similarity")!, System.Globalization.CultureInfo.InvariantCulture), 0.9, 1.0);
        var paraphrase = await gateway.StreamAsync(Requests.Chat("m", "What's the capital of France?", 30));
        var unrelated = await gateway.StreamAsync(Requests.Chat("m", "How do I bake sourdough bread?", 30));

        Assert.Equal(CacheStatus.Miss, live.Finish!.Routing.Cache.Status);
        Assert.Equal(CacheStatus.HitSemantic, paraphrase.Finish!.Routing.Cache.Status);
        Assert.InRange(paraphrase.Finish.Routing.Cache.Similarity, 0.9, 1.0);
        Assert.Equal(live.Text, paraphrase.Text);
        Assert.Equal(live.Usage!.OutputTokens, paraphrase.Usage!.OutputTokens);
        Assert.Equal(CacheStatus.Miss, unrelated.Finish!.Routing.Cache.Status);
        Assert.Equal(2, sim.RequestsSince(since).Count);
    }
}
