using Gateway.Admin.V1;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Governance.Budgets;
using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Limits;
using Gateway.Grpc.Governance.Storage;
using Grpc.Core;
using Grpc.Net.Client;
using Gateway.Grpc.Server.Tests.Infrastructure;
using Gateway.V1;

namespace Gateway.Grpc.Server.Tests;

/// <summary>Virtual keys, limits, budgets and the ledger, through the real gateway on the embedded simulated provider.</summary>
public sealed class GovernanceTests
{
    private static async Task<(GatewayHarness Gateway, string Master)> StartSecuredAsync(Dictionary<string, string?>? extra = null)
    {
        var variable = "GW_TEST_MASTER_" + Guid.NewGuid().ToString("N");
        var master = "master-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, master);
        var config = new Dictionary<string, string?> { ["auth:masterKey"] = "env:" + variable };
        foreach (var (k, v) in extra ?? [])
        {
            config[k] = v;
        }

        return (await GatewayHarness.StartAsync(config), master);
    }

    private static CallOptions As(string key, DateTime? deadline = null) => new(headers: new Metadata { { "authorization", "Bearer " + key } }, deadline: deadline);

    private static CompletionRequest FastRequest(string model = "sim-small", int maxTokens = 8, int? naturalTokens = null)
    {
        var request = GatewayHarness.Request(model, maxTokens);
        request.Metadata["sim.ttft_ms"] = "0";
        request.Metadata["sim.tokens_per_second"] = "0";
        if (naturalTokens is { } n)
        {
            request.Metadata["sim.output_tokens"] = n.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return request;
    }

    private static async Task<CreateKeyResponse> CreateKeyAsync(GatewayHarness gateway, string master, Key key)
        => await new AdminService.AdminServiceClient(gateway.Channel).CreateKeyAsync(new CreateKeyRequest { Key = key }, As(master)).ResponseAsync;

    [Fact]
    public async Task KeysRequired_NoKeyOrBadKey_Unauthenticated()
    {
        var (gateway, _) = await StartSecuredAsync();
        await using var _g = gateway;

        var missing = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(FastRequest()));
        Assert.Equal(StatusCode.Unauthenticated, missing.StatusCode);
        Assert.Contains("authorization: Bearer", missing.Status.Detail, StringComparison.Ordinal);

        var bad = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(FastRequest(), As("gw-AAAAAAAA_notakey")));
        Assert.Equal(StatusCode.Unauthenticated, bad.StatusCode);
    }

    [Fact]
    public async Task AdminApi_NeedsTheMasterKey()
    {
        var (gateway, master) = await StartSecuredAsync();
        await using var _g = gateway;
        var created = await CreateKeyAsync(gateway, master, new Key { Name = "svc" });

        var ex = await Assert.ThrowsAsync<RpcException>(() => new AdminService.AdminServiceClient(gateway.Channel).ListKeysAsync(new ListKeysRequest(), As(created.Secret)).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, ex.StatusCode);
    }

    [Fact]
    public async Task AdminApi_Disabled_WithoutMasterKey()
    {
        await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?>());
        var ex = await Assert.ThrowsAsync<RpcException>(() => new AdminService.AdminServiceClient(gateway.Channel).ListKeysAsync(new ListKeysRequest()).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, ex.StatusCode);
        Assert.Contains("auth.masterKey", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Key_StoredAsHashOnly_Works_Rotates_AndRevocationTakesEffectWithinTwoSeconds()
    {
        var (gateway, master) = await StartSecuredAsync();
        await using var _g = gateway;
        var created = await CreateKeyAsync(gateway, master, new Key { Name = "svc" });
        Assert.StartsWith(created.Key.Prefix + "_", created.Secret, StringComparison.Ordinal);

        var stored = gateway.Service<IGovernanceStore>();
        var record = await stored.GetKeyAsync(created.Key.Id, CancellationToken.None);
        Assert.NotNull(record);
        Assert.DoesNotContain(created.Secret, record!.Hash, StringComparison.Ordinal);
        Assert.Equal(64, record.Hash.Length);

        Assert.NotNull(await gateway.CompleteAsync(FastRequest(), As(created.Secret)));

        var rotated = await new AdminService.AdminServiceClient(gateway.Channel).RotateKeyAsync(new RotateKeyRequest { Id = created.Key.Id }, As(master)).ResponseAsync;
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(FastRequest(), As(created.Secret)))).StatusCode);
        Assert.NotNull(await gateway.CompleteAsync(FastRequest(), As(rotated.Secret)));

        // Revoke through the store directly, as another replica would: the local cache must not
        // keep the key alive for more than its one-second TTL.
        await stored.UpdateKeyAsync((await stored.GetKeyAsync(created.Key.Id, CancellationToken.None))! with { RevokedAt = DateTimeOffset.UtcNow }, CancellationToken.None);
        var deadline = DateTime.UtcNow.AddSeconds(2);
        RpcException? refused = null;
        while (DateTime.UtcNow < deadline && refused is null)
        {
            try
            {
                await gateway.CompleteAsync(FastRequest(), As(rotated.Secret));
                await Task.Delay(100);
            }
            catch (RpcException ex)
            {
                refused = ex;
            }
        }

        Assert.NotNull(refused);
        Assert.Equal(StatusCode.Unauthenticated, refused!.StatusCode);
        Assert.Contains("revoked", refused.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AllowedModels_OtherModel_PermissionDenied()
    {
        var (gateway, master) = await StartSecuredAsync();
        await using var _g = gateway;
        var created = await CreateKeyAsync(gateway, master, new Key { AllowedModels = { "sim-small" } });

        Assert.NotNull(await gateway.CompleteAsync(FastRequest("sim-small"), As(created.Secret)));
        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(FastRequest("sim-large"), As(created.Secret)));
        Assert.Equal(StatusCode.PermissionDenied, ex.StatusCode);
    }

    [Fact]
    public async Task MaxTokensPerRequest_Enforced()
    {
        var (gateway, master) = await StartSecuredAsync();
        await using var _g = gateway;
        var created = await CreateKeyAsync(gateway, master, new Key { Limits = new Limits { MaxTokensPerRequest = 10 } });

        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(FastRequest(maxTokens: 50), As(created.Secret)));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);

        var request = FastRequest(naturalTokens: 100);
        request.ClearMaxTokens();
        var response = await gateway.CompleteAsync(request, As(created.Secret));
        Assert.Equal(10, response.Usage.OutputTokens);
    }

    [Theory]
    [InlineData("sliding-window")]
    [InlineData("gcra")]
    public async Task Rpm_AdmitsExactlyTheLimit_ThenResourceExhaustedWithRetryAfter(string algorithm)
    {
        var (gateway, master) = await StartSecuredAsync();
        await using var _g = gateway;
        var created = await CreateKeyAsync(gateway, master, new Key { Limits = new Limits { RequestsPerMinute = 5, Algorithm = algorithm } });

        for (var i = 0; i < 5; i++)
        {
            await gateway.CompleteAsync(FastRequest(), As(created.Secret));
        }

        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(FastRequest(), As(created.Secret)));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Equal("rate_limited", ex.Trailers.GetValue("gateway-error-kind"));
        Assert.True(long.Parse(ex.Trailers.GetValue("retry-after-ms")!, System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal("5", ex.Trailers.GetValue("x-ratelimit-limit-requests"));
        Assert.Equal("0", ex.Trailers.GetValue("x-ratelimit-remaining-requests"));
    }

    [Theory]
    [InlineData("sliding-window")]
    [InlineData("gcra")]
    public async Task Tpm_AdmitsUpToTheLimit_NotEarlier_AndRefusesPastIt(string algorithm)
    {
        var (gateway, master) = await StartSecuredAsync();
        await using var _g = gateway;
        // Each call: estimate == actual (same token counter, output == max_tokens).
        var probe = await gateway.CompleteAsync(FastRequest(maxTokens: 20, naturalTokens: 50), As(master));
        var perCall = probe.Usage.InputTokens + probe.Usage.OutputTokens;
        const int calls = 10;
        var created = await CreateKeyAsync(gateway, master, new Key { Limits = new Limits { TokensPerMinute = perCall * calls, Algorithm = algorithm } });

        for (var i = 0; i < calls; i++)
        {
            await gateway.CompleteAsync(FastRequest(maxTokens: 20, naturalTokens: 50), As(created.Secret));
        }

        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(FastRequest(maxTokens: 20, naturalTokens: 50), As(created.Secret)));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Contains("tokens per minute", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tpm_OverEstimateIsSettled_UnusedReservationReturns()
    {
        var (gateway, master) = await StartSecuredAsync();
        await using var _g = gateway;
        const int maxTokens = 100;
        var request = FastRequest(maxTokens: maxTokens, naturalTokens: 5);
        // Admission reserves the prompt (as the gateway counts it) plus max_tokens.
        var estimate = gateway.Service<GovernanceSettings>().CountPromptTokens(request) + maxTokens;
        var probe = await gateway.CompleteAsync(request, As(master));
        Assert.Equal(5, probe.Usage.OutputTokens);
        Assert.False(probe.Usage.Estimated);
        var actual = probe.Usage.InputTokens + probe.Usage.OutputTokens;
        Assert.True(actual < estimate / 2, $"actual {actual} vs estimate {estimate}: the test needs a large over-estimate");
        // Room for two estimates at a time, but for many actual calls.
        var limit = estimate * 2;
        var created = await CreateKeyAsync(gateway, master, new Key { Limits = new Limits { TokensPerMinute = limit } });
        var counter = "key:" + created.Key.Id + ":tpm";
        var client = new Completion.CompletionClient(gateway.Channel);

        // Each call holds its whole estimate while it runs (the admission header says what was
        // left with it held) and gives back exactly estimate - actual when it settles.
        var admissible = ((limit - estimate) / actual) + 1;
        for (var i = 0; i < admissible; i++)
        {
            using var call = client.CompleteAsync(request, As(created.Secret));
            var headers = await call.ResponseHeadersAsync;
            Assert.Equal((limit - (i * actual) - estimate).ToString(System.Globalization.CultureInfo.InvariantCulture), headers.GetValue("x-ratelimit-remaining-tokens"));
            var usage = (await call.ResponseAsync).Usage;
            Assert.Equal(actual, usage.InputTokens + usage.OutputTokens);
            Assert.Equal(limit - ((i + 1) * actual), await TokensRemainingAsync(gateway, counter, limit));
        }

        // The next estimate no longer fits: refused, and the refusal takes nothing.
        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(request, As(created.Secret)));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Contains("tokens per minute", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(limit - (admissible * actual), await TokensRemainingAsync(gateway, counter, limit));
        Assert.True(admissible > 2, $"only {admissible} calls fit");
    }

    /// <summary>What a token counter has left, read without taking anything (an acquire of 0).</summary>
    private static async Task<long> TokensRemainingAsync(GatewayHarness gateway, string key, long limit)
    {
        var settings = gateway.Service<GovernanceSettings>();
        var result = await gateway.Service<IRateLimitBackend>().TryAcquireAsync(new LimitRequest(key, LimitKind.Tokens, limit, 0, settings.DefaultAlgorithm, ""), CancellationToken.None);
        Assert.True(result.Allowed);
        return result.Remaining;
    }

    [Fact]
    public async Task Concurrency_SecondCallRefusedWhileFirstRuns()
    {
        var (gateway, master) = await StartSecuredAsync();
        await using var _g = gateway;
        var created = await CreateKeyAsync(gateway, master, new Key { Limits = new Limits { MaxConcurrentRequests = 1 } });

        var slow = GatewayHarness.Request("sim-small", 200);
        slow.Metadata["sim.ttft_ms"] = "0";
        slow.Metadata["sim.tokens_per_second"] = "20";
        slow.Metadata["sim.output_tokens"] = "200";
        using var stream = new Completion.CompletionClient(gateway.Channel).StreamComplete(slow, As(created.Secret));
        Assert.True(await stream.ResponseStream.MoveNext(CancellationToken.None));

        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(FastRequest(), As(created.Secret)));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Contains("concurrent", ex.Status.Detail, StringComparison.Ordinal);

        stream.Dispose();
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            try
            {
                await gateway.CompleteAsync(FastRequest(), As(created.Secret));
                break;
            }
            catch (RpcException again) when (again.StatusCode == StatusCode.ResourceExhausted && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
    }

    [Fact]
    public async Task Budget_Crossed_BlocksNextCall_AlertsFireOncePerThreshold()
    {
        var (gateway, master) = await StartSecuredAsync();
        await using var _g = gateway;
        var alerts = new List<BudgetAlert>();
        gateway.Service<BudgetTracker>().AlertRaised += a => { lock (alerts) { alerts.Add(a); } };
        // sim-small: 0.15 / 0.60 US$ per 1M tokens. One call of ~10 in + 20 out costs ~1.35e-5.
        var created = await CreateKeyAsync(gateway, master, new Key { Limits = new Limits { MonthlyBudgetUsd = 0.00003 } });

        var calls = 0;
        RpcException? refused = null;
        while (refused is null && calls < 20)
        {
            try
            {
                var response = await gateway.CompleteAsync(FastRequest(maxTokens: 20, naturalTokens: 50), As(created.Secret));
                Assert.True(response.Usage.CostUsd > 0);
                calls++;
            }
            catch (RpcException ex)
            {
                refused = ex;
            }
        }

        Assert.NotNull(refused);
        Assert.Equal(StatusCode.ResourceExhausted, refused!.StatusCode);
        Assert.Equal("budget_exceeded", refused.Trailers.GetValue("gateway-error-kind"));
        Assert.InRange(calls, 2, 4);

        // The stream route is blocked too.
        var (events, status, _) = await gateway.StreamAsync(FastRequest(), As(created.Secret));
        Assert.Equal(StatusCode.ResourceExhausted, status.StatusCode);
        Assert.Empty(events);

        lock (alerts)
        {
            Assert.Equal([50, 80, 100], alerts.Select(a => a.ThresholdPercent).Order().ToArray());
        }
    }

    [Fact]
    public async Task StreamedCall_LedgerRowEqualsUnaryRow_AndUsageApiSumsThem()
    {
        var (gateway, master) = await StartSecuredAsync();
        await using var _g = gateway;
        var created = await CreateKeyAsync(gateway, master, new Key { Name = "ledger" });

        var unary = await gateway.CompleteAsync(FastRequest(maxTokens: 12, naturalTokens: 30), As(created.Secret));
        var (events, status, _) = await gateway.StreamAsync(FastRequest(maxTokens: 12, naturalTokens: 30), As(created.Secret));
        Assert.Equal(StatusCode.OK, status.StatusCode);
        Assert.Equal(unary.Usage.OutputTokens, events.Single(e => e.EventCase == CompletionChunk.EventOneofCase.Usage).Usage.OutputTokens);

        await gateway.Service<LedgerWriter>().FlushAsync();
        var rows = ((InMemoryGovernanceStore)gateway.Service<IGovernanceStore>()).Ledger.Where(r => r.KeyId == created.Key.Id).ToArray();
        Assert.Equal(2, rows.Length);
        var u = rows.Single(r => !r.Stream);
        var s = rows.Single(r => r.Stream);
        Assert.Equal(u.InputTokens, s.InputTokens);
        Assert.Equal(u.OutputTokens, s.OutputTokens);
        Assert.Equal(u.CostUsd, s.CostUsd);
        Assert.True(u.CostUsd > 0);
        Assert.False(s.Estimated);
        Assert.Equal((double)u.CostUsd, unary.Usage.CostUsd, 10);
        // The streamed usage event carries the same cost as the unary answer and the ledger row.
        Assert.Equal((double)s.CostUsd, events.Single(e => e.EventCase == CompletionChunk.EventOneofCase.Usage).Usage.CostUsd, 10);

        var usage = await new AdminService.AdminServiceClient(gateway.Channel).GetUsageAsync(new GetUsageRequest { KeyId = created.Key.Id, GroupBy = { UsageGroup.Key, UsageGroup.Model } }, As(master)).ResponseAsync;
        var row = Assert.Single(usage.Rows);
        Assert.Equal(2, row.Requests);
        Assert.Equal(u.OutputTokens * 2, row.OutputTokens);
        Assert.Equal("sim-small", row.Model);
    }
}

public sealed class TenantBodyLoggingTests
{
    [Fact]
    public async Task AccessLog_PromptTextOnlyForTeamsThatOptedIn()
    {
        var path = Path.Combine(Path.GetTempPath(), "gw-access-" + Guid.NewGuid().ToString("N") + ".log");
        var variable = "GW_TEST_MASTER_" + Guid.NewGuid().ToString("N");
        var master = "master-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, master);
        await using (var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?>
        {
            ["auth:masterKey"] = "env:" + variable,
            ["accessLog:enabled"] = "true",
            ["accessLog:path"] = path,
        }))
        {
            var admin = new CallOptions(headers: new Metadata { { "authorization", "Bearer " + master } });
            var open = await new AdminService.AdminServiceClient(gateway.Channel).CreateTeamAsync(new CreateTeamRequest { Team = new Team { Name = "open", LogBodies = true } }, admin).ResponseAsync;
            var quiet = await new AdminService.AdminServiceClient(gateway.Channel).CreateTeamAsync(new CreateTeamRequest { Team = new Team { Name = "quiet" } }, admin).ResponseAsync;
            var openKey = await new AdminService.AdminServiceClient(gateway.Channel).CreateKeyAsync(new CreateKeyRequest { Key = new Key { TeamId = open.Team.Id } }, admin).ResponseAsync;
            var quietKey = await new AdminService.AdminServiceClient(gateway.Channel).CreateKeyAsync(new CreateKeyRequest { Key = new Key { TeamId = quiet.Team.Id } }, admin).ResponseAsync;

            foreach (var (key, text) in new[] { (openKey.Secret, "opted-in-prompt-text"), (quietKey.Secret, "private-prompt-text") })
            {
                var request = GatewayHarness.Request("sim-small", 4);
                request.Messages[0].Content = text;
                await gateway.CompleteAsync(request, new CallOptions(headers: new Metadata { { "authorization", "Bearer " + key } }));
            }
        }

        var log = await File.ReadAllTextAsync(path);
        File.Delete(path);
        Assert.Contains("opted-in-prompt-text", log, StringComparison.Ordinal);
        Assert.DoesNotContain("private-prompt-text", log, StringComparison.Ordinal);
        Assert.DoesNotContain(master, log, StringComparison.Ordinal);
    }
}

public sealed class ModelsAuthTests
{
    [Fact]
    public async Task ListModels_NeedsAKey_AndShowsOnlyAllowedModels()
    {
        var variable = "GW_TEST_MASTER_" + Guid.NewGuid().ToString("N");
        var master = "master-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, master);
        await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?> { ["auth:masterKey"] = "env:" + variable });
        var admin = new CallOptions(headers: new Metadata { { "authorization", "Bearer " + master } });
        var key = await new AdminService.AdminServiceClient(gateway.Channel).CreateKeyAsync(new CreateKeyRequest { Key = new Key { AllowedModels = { "sim-large" } } }, admin).ResponseAsync;

        var ex = await Assert.ThrowsAsync<RpcException>(() => new Models.ModelsClient(gateway.Channel).ListModelsAsync(new ListModelsRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);

        var models = await new Models.ModelsClient(gateway.Channel).ListModelsAsync(new ListModelsRequest(), new CallOptions(headers: new Metadata { { "authorization", "Bearer " + key.Secret } })).ResponseAsync;
        Assert.Equal(["sim-large"], models.Models.Select(m => m.Id).ToArray());

        // The transcoded REST route goes through the same gate.
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        using var anonymous = await http.GetAsync("/v1/gateway/models");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using var rest = await http.GetAsync("/v1/models");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, rest.StatusCode);
    }
}

public sealed class BudgetWebhookTests
{
    [Fact]
    public async Task BudgetAlerts_PostedToWebhook_OncePerThreshold()
    {
        var received = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        Microsoft.AspNetCore.Hosting.HostingAbstractionsWebHostBuilderExtensions.UseUrls(builder.WebHost, "http://127.0.0.1:0");
        await using var hook = builder.Build();
        Microsoft.AspNetCore.Builder.EndpointRouteBuilderExtensions.MapPost(hook, "/alerts", async (Microsoft.AspNetCore.Http.HttpContext c) =>
        {
            using var reader = new StreamReader(c.Request.Body);
            received.Enqueue(await reader.ReadToEndAsync());
        });
        await hook.StartAsync();
        var hookUrl = hook.Urls.First() + "/alerts";

        var variable = "GW_TEST_MASTER_" + Guid.NewGuid().ToString("N");
        var master = "master-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, master);
        await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?>
        {
            ["auth:masterKey"] = "env:" + variable,
            ["budgets:alertWebhook"] = hookUrl,
        });
        var admin = new CallOptions(headers: new Metadata { { "authorization", "Bearer " + master } });
        var key = await new AdminService.AdminServiceClient(gateway.Channel).CreateKeyAsync(new CreateKeyRequest { Key = new Key { Limits = new Limits { MonthlyBudgetUsd = 0.00003 } } }, admin).ResponseAsync;
        var call = new CallOptions(headers: new Metadata { { "authorization", "Bearer " + key.Secret } });
        for (var i = 0; i < 10; i++)
        {
            var request = GatewayHarness.Request("sim-small", 20);
            request.Metadata["sim.ttft_ms"] = "0";
            request.Metadata["sim.tokens_per_second"] = "0";
            request.Metadata["sim.output_tokens"] = "50";
            try
            {
                await gateway.CompleteAsync(request, call);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                break;
            }
        }

        await gateway.Service<Gateway.Grpc.Server.Governance.BudgetAlertNotifier>().Pending;
        var thresholds = received.Select(b => System.Text.Json.JsonDocument.Parse(b).RootElement.GetProperty("threshold_percent").GetInt32()).Order().ToArray();
        Assert.Equal([50, 80, 100], thresholds);
        Assert.All(received, b => Assert.Contains("\"scope\":\"key:" + key.Key.Id + "\"", b, StringComparison.Ordinal));
    }
}

public sealed class AdminTranscodingTests
{
    [Fact]
    public async Task AdminApi_OverJsonTranscoding_SameAuthAsGrpc()
    {
        var variable = "GW_TEST_MASTER_" + Guid.NewGuid().ToString("N");
        var master = "master-" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, master);
        await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?> { ["auth:masterKey"] = "env:" + variable });
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        using var anonymous = await http.PostAsync("/v1/admin/keys", new StringContent("""{"name":"x"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.False(anonymous.IsSuccessStatusCode);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/admin/keys") { Content = new StringContent("""{"name":"curl-made","limits":{"requestsPerMinute":10}}""", System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", master);
        using var created = await http.SendAsync(request);
        var body = await created.Content.ReadAsStringAsync();
        Assert.True(created.IsSuccessStatusCode, body);
        using var json = System.Text.Json.JsonDocument.Parse(body);
        var secret = json.RootElement.GetProperty("secret").GetString()!;
        var id = json.RootElement.GetProperty("key").GetProperty("id").GetString()!;
        Assert.Equal(10, json.RootElement.GetProperty("key").GetProperty("limits").GetProperty("requestsPerMinute").GetInt32());

        // The key made over HTTP works on gRPC, and revoking over HTTP stops it.
        var call = new CallOptions(headers: new Metadata { { "authorization", "Bearer " + secret } });
        Assert.NotNull(await gateway.CompleteAsync(GatewayHarness.Request("sim-small", 4), call));
        using var revoke = new HttpRequestMessage(HttpMethod.Post, $"/v1/admin/keys/{id}/revoke");
        revoke.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", master);
        using var revoked = await http.SendAsync(revoke);
        Assert.True(revoked.IsSuccessStatusCode, await revoked.Content.ReadAsStringAsync());
        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(GatewayHarness.Request("sim-small", 4), call));
        Assert.Equal(StatusCode.Unauthenticated, ex.StatusCode);
    }
}

public sealed class EnvironmentConfigTests
{
    [Fact]
    public async Task SecretInGatewayPrefixedVariable_IsNotMistakenForConfiguration()
    {
        // README: auth.masterKey: env:GATEWAY_MASTER_KEY. That variable must not be read as a config key.
        Environment.SetEnvironmentVariable("GATEWAY_MASTER_KEY", "master-from-env");
        try
        {
            await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?> { ["auth:masterKey"] = "env:GATEWAY_MASTER_KEY" });
            var keys = await new AdminService.AdminServiceClient(gateway.Channel).ListKeysAsync(new ListKeysRequest(), new CallOptions(headers: new Metadata { { "authorization", "Bearer master-from-env" } })).ResponseAsync;
            Assert.Empty(keys.Keys);
        }
        finally
        {
            Environment.SetEnvironmentVariable("GATEWAY_MASTER_KEY", null);
        }
    }
}
