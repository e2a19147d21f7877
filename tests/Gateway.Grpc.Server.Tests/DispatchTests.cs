using System.Diagnostics;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Server.Telemetry;
using Grpc.Core;
using Grpc.Net.Client;
using Gateway.Grpc.Server.Tests.Infrastructure;
using Gateway.V1;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Server.Tests;

/// <summary>Routing, retries, fallback, circuit breaking, hedging, deadlines and cancellation, end to end over gRPC.</summary>
public sealed class DispatchTests
{
    private static ConfigBuilder PrimaryWithFallback(int maxAttempts = 1)
        => new ConfigBuilder()
            .Model("primary", ["p1"], (c, p) =>
            {
                c[p + "fallbacks:0"] = "backup";
                c[p + "retry:maxAttempts"] = maxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture);
            })
            .Model("backup", ["b1"]);

    [Theory]
    [InlineData(ProviderErrorKind.RateLimited)]
    [InlineData(ProviderErrorKind.ServerError)]
    [InlineData(ProviderErrorKind.Overloaded)]
    [InlineData(ProviderErrorKind.ConnectionFailure)]
    [InlineData(ProviderErrorKind.Timeout)]
    public async Task Complete_FallbackWorthyError_ServedByFallbackModel(ProviderErrorKind kind)
    {
        var fake = new FakeProvider();
        fake.Script("p1", Behavior.Error(kind));
        await using var gateway = await GatewayHarness.StartAsync(PrimaryWithFallback().Build(), fake);

        var response = await gateway.CompleteAsync(GatewayHarness.Request("primary"));

        Assert.Equal("answer from b1", response.Message.Content);
        Assert.Equal("b1", response.Routing.Deployment);
        Assert.Collection(
            response.Routing.Attempts,
            a => { Assert.Equal("p1", a.Deployment); Assert.Equal(AttemptOutcome.Failed, a.Outcome); Assert.Equal(ProviderException.KindToName(kind), a.Error); Assert.False(a.Fallback); },
            a => { Assert.Equal("b1", a.Deployment); Assert.Equal(AttemptOutcome.Success, a.Outcome); Assert.True(a.Fallback); });
    }

    [Theory]
    [InlineData(ProviderErrorKind.BadRequest, StatusCode.InvalidArgument)]
    [InlineData(ProviderErrorKind.AuthFailure, StatusCode.Internal)]
    public async Task Complete_CallerOrConfigError_NoRetryNoFallback(ProviderErrorKind kind, StatusCode expected)
    {
        var fake = new FakeProvider();
        fake.Script("p1", Behavior.Error(kind));
        await using var gateway = await GatewayHarness.StartAsync(PrimaryWithFallback(maxAttempts: 3).Build(), fake);

        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(GatewayHarness.Request("primary")));

        Assert.Equal(expected, ex.StatusCode);
        Assert.Single(fake.Calls);
        Assert.Empty(fake.CallsTo("b1"));
        Assert.Equal("1:p1:failed:" + ProviderException.KindToName(kind), ex.Trailers.GetValue("gateway-attempts"));
    }

    [Fact]
    public async Task Complete_SlowTimeToFirstByte_AttemptTimesOutAndFallsBack()
    {
        var fake = new FakeProvider();
        fake.Script("p1", new Behavior { Hang = true });
        var config = PrimaryWithFallback().Build();
        config["models:0:timeouts:attemptMs"] = "200";
        await using var gateway = await GatewayHarness.StartAsync(config, fake);

        var response = await gateway.CompleteAsync(GatewayHarness.Request("primary"));

        Assert.Equal("b1", response.Routing.Deployment);
        Assert.Equal("timeout", response.Routing.Attempts[0].Error);
        var hung = Assert.Single(fake.CallsTo("p1"));
        await hung.Ended.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(hung.Cancelled, "the timed-out upstream request must be aborted");
    }

    [Fact]
    public async Task Complete_RetryAfter_IsHonouredBeforeTheRetry()
    {
        var fake = new FakeProvider();
        fake.Script("p1", Behavior.Error(ProviderErrorKind.RateLimited, retryAfterMs: 400), Behavior.Ok());
        var config = new ConfigBuilder().Model("primary", ["p1"], (c, p) => c[p + "retry:maxAttempts"] = "2").Build();
        await using var gateway = await GatewayHarness.StartAsync(config, fake);

        var response = await gateway.CompleteAsync(GatewayHarness.Request("primary"));

        Assert.Equal(AttemptOutcome.Success, response.Routing.Attempts[1].Outcome);
        var calls = fake.CallsTo("p1").ToArray();
        Assert.Equal(2, calls.Length);
        var gap = calls[1].Started - calls[0].Started;
        Assert.True(gap >= TimeSpan.FromMilliseconds(380), $"retry came after {gap.TotalMilliseconds} ms, before the provider's Retry-After of 400 ms");
    }

    [Fact]
    public async Task Complete_RetryAfterAboveCap_GoesToFallbackWithoutWaiting()
    {
        var fake = new FakeProvider();
        fake.Script("p1", Behavior.Error(ProviderErrorKind.RateLimited, retryAfterMs: 60_000));
        var config = PrimaryWithFallback(maxAttempts: 3).Build();
        config["models:0:retry:maxRetryAfterMs"] = "1000";
        await using var gateway = await GatewayHarness.StartAsync(config, fake);

        var response = await gateway.CompleteAsync(GatewayHarness.Request("primary"), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)));

        Assert.Equal("b1", response.Routing.Deployment);
        Assert.Single(fake.CallsTo("p1"));
    }

    [Fact]
    public async Task Complete_ProviderDown_AttemptsAreBounded()
    {
        var fake = new FakeProvider();
        fake.Script("p1", Behavior.Error(ProviderErrorKind.ServerError));
        var config = new ConfigBuilder().Model("primary", ["p1"], (c, p) =>
        {
            c[p + "retry:maxAttempts"] = "3";
            c[p + "circuitBreaker:enabled"] = "false";
        }).Build();
        await using var gateway = await GatewayHarness.StartAsync(config, fake);

        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(GatewayHarness.Request("primary")));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Equal(3, fake.Calls.Count);
        Assert.Equal("server_error", ex.Trailers.GetValue("gateway-error-kind"));
    }

    [Fact]
    public async Task Complete_ProviderDown_RetryBudgetStopsRetryStorm()
    {
        var fake = new FakeProvider();
        fake.Script("p1", Behavior.Error(ProviderErrorKind.ServerError));
        var config = new ConfigBuilder().Model("primary", ["p1"], (c, p) =>
        {
            c[p + "retry:maxAttempts"] = "3";
            c[p + "retry:budgetRatio"] = "0.1";
            c[p + "retry:budgetMinPerSecond"] = "1";
            c[p + "circuitBreaker:enabled"] = "false";
        }).Build();
        await using var gateway = await GatewayHarness.StartAsync(config, fake);

        const int requests = 100;
        for (var i = 0; i < requests; i++)
        {
            await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(GatewayHarness.Request("primary")));
        }

        // Without a budget: 300 upstream calls. With it: 100 first attempts + at most
        // max(10 floor over the 10 s window, 10 % of 100) retries.
        var retries = fake.Calls.Count - requests;
        Assert.InRange(retries, 1, 10);
    }

    [Fact]
    public async Task CircuitBreaker_OpensOnFailures_SkipsDeployment_AndRecovers()
    {
        var (gateway, fake, clock) = await CircuitScenario.StartAsync();
        await using var _ = gateway;

        // Round robin sends every other first attempt to "bad"; each failure retries on "good".
        for (var i = 0; i < 8; i++)
        {
            var ok = await gateway.CompleteAsync(GatewayHarness.Request("m"));
            Assert.Equal("good", ok.Routing.Deployment);
        }

        Assert.Equal(DeploymentState.Open, await StateOfAsync(gateway, "bad"));

        // The clock stands still: the whole break is still ahead, however long these calls take.
        var badCallsWhileOpen = fake.CallsTo("bad").Count();
        for (var i = 0; i < 6; i++)
        {
            await gateway.CompleteAsync(GatewayHarness.Request("m"));
        }

        Assert.Equal(badCallsWhileOpen, fake.CallsTo("bad").Count());

        // Healed, but a millisecond of the break is left: still skipped.
        fake.Script("bad", Behavior.Ok());
        clock.Advance(CircuitScenario.BreakDuration - TimeSpan.FromMilliseconds(1));
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal("good", (await gateway.CompleteAsync(GatewayHarness.Request("m"))).Routing.Deployment);
        }

        Assert.Equal(badCallsWhileOpen, fake.CallsTo("bad").Count());
        Assert.Equal(DeploymentState.Open, await StateOfAsync(gateway, "bad"));

        // The break is over: a half-open probe reaches the deployment and closes the circuit.
        clock.Advance(TimeSpan.FromMilliseconds(1));
        for (var i = 0; i < 4; i++)
        {
            await gateway.CompleteAsync(GatewayHarness.Request("m"));
        }

        Assert.True(fake.CallsTo("bad").Count() > badCallsWhileOpen, "a probe must reach the deployment after the break");
        Assert.Equal(DeploymentState.Healthy, await StateOfAsync(gateway, "bad"));
    }

    [Fact]
    public async Task CircuitBreaker_AnswerArrivingAfterItOpened_IsServed_AndLeavesItOpen()
    {
        // The first call to "bad" waits at a gate and then answers; every later one fails.
        var gate = new TaskCompletionSource();
        var (gateway, fake, _) = await CircuitScenario.StartAsync(
            new Behavior { Gate = gate.Task },
            Behavior.Error(ProviderErrorKind.ServerError));
        await using var __ = gateway;

        // Round robin starts on "bad": this call is held there while the circuit is closed.
        var late = gateway.CompleteAsync(GatewayHarness.Request("m"));
        await fake.FirstCall.WaitAsync(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal("good", (await gateway.CompleteAsync(GatewayHarness.Request("m"))).Routing.Deployment);
        }

        Assert.Equal(DeploymentState.Open, await StateOfAsync(gateway, "bad"));

        // Its answer arrives while the circuit is open: the caller gets it, and the success does
        // not close the circuit (only a half-open probe after the break can).
        gate.SetResult();
        var response = await late.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("bad", response.Routing.Deployment);
        Assert.Equal("answer from bad", response.Message.Content);
        Assert.Equal(DeploymentState.Open, await StateOfAsync(gateway, "bad"));
    }

    private static async Task<DeploymentState> StateOfAsync(GatewayHarness gateway, string deployment)
    {
        var models = await new Models.ModelsClient(gateway.Channel).ListModelsAsync(new ListModelsRequest()).ResponseAsync;
        return models.Models.Single(m => m.Id == "m").Deployments.Single(d => d.Name == deployment).State;
    }

    [Fact]
    public async Task Hedging_Unary_FastDeploymentWins_SlowUpstreamAborted()
    {
        var fake = new FakeProvider();
        fake.Script("slow", new Behavior { Hang = true });
        fake.Script("fast", Behavior.Ok(delayMs: 10));
        var config = new ConfigBuilder().Model("m", ["slow", "fast"], (c, p) =>
        {
            c[p + "hedging:enabled"] = "true";
            c[p + "hedging:delayMs"] = "100";
            c[p + "strategy"] = "round-robin";
        }).Build();
        await using var gateway = await GatewayHarness.StartAsync(config, fake);
        // The first round-robin pick is index 0 ("slow").
        var response = await gateway.CompleteAsync(GatewayHarness.Request("m"));

        Assert.Equal("fast", response.Routing.Deployment);
        var slow = Assert.Single(fake.CallsTo("slow"));
        await slow.Ended.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(slow.Cancelled, "the losing hedge's upstream request must be aborted");
        Assert.Contains(response.Routing.Attempts, a => a.Deployment == "fast" && a.Hedged && a.Outcome == AttemptOutcome.Success);
        Assert.Contains(response.Routing.Attempts, a => a.Deployment == "slow" && !a.Hedged && a.Outcome == AttemptOutcome.Cancelled);
    }

    [Fact]
    public async Task Hedging_Stream_CommitsToFirstToken_CancelsTheOther()
    {
        var fake = new FakeProvider();
        fake.Script("slow", new Behavior { Delay = TimeSpan.FromSeconds(30) });
        fake.Script("fast", Behavior.Ok());
        var config = new ConfigBuilder().Model("m", ["slow", "fast"], (c, p) =>
        {
            c[p + "hedging:enabled"] = "true";
            c[p + "hedging:delayMs"] = "100";
        }).Build();
        await using var gateway = await GatewayHarness.StartAsync(config, fake);

        var (events, status, _) = await gateway.StreamAsync(GatewayHarness.Request("m"));

        Assert.Equal(StatusCode.OK, status.StatusCode);
        Assert.Equal("fast", events[0].Start.Deployment);
        Assert.All(events.Where(e => e.EventCase == CompletionChunk.EventOneofCase.Delta), e => Assert.StartsWith("[fast:", e.Delta.Text, StringComparison.Ordinal));
        Assert.Equal(CompletionChunk.EventOneofCase.Finish, events[^1].EventCase);
        var slow = Assert.Single(fake.CallsTo("slow"));
        await slow.Ended.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(slow.Cancelled);
    }

    [Fact]
    public async Task Stream_FailsBeforeFirstToken_FallsBackTransparently()
    {
        var fake = new FakeProvider();
        fake.Script("p1", Behavior.Error(ProviderErrorKind.Overloaded));
        await using var gateway = await GatewayHarness.StartAsync(PrimaryWithFallback().Build(), fake);

        var (events, status, _) = await gateway.StreamAsync(GatewayHarness.Request("primary"));

        Assert.Equal(StatusCode.OK, status.StatusCode);
        Assert.Equal("b1", events[0].Start.Deployment);
        var finish = events[^1].Finish;
        Assert.Equal(2, finish.Routing.Attempts.Count);
        Assert.Equal("overloaded", finish.Routing.Attempts[0].Error);
    }

    [Fact]
    public async Task Stream_UpstreamDiesAfterTokens_ErrorStatusAndErrorEvent_NeverFinish()
    {
        var fake = new FakeProvider();
        fake.Script("p1", new Behavior { TokensBeforeFailure = 2, Fail = ProviderErrorKind.StreamInterrupted });
        await using var gateway = await GatewayHarness.StartAsync(PrimaryWithFallback().Build(), fake);

        var (events, status, trailers) = await gateway.StreamAsync(GatewayHarness.Request("primary"));

        Assert.Equal(StatusCode.Unavailable, status.StatusCode);
        Assert.DoesNotContain(events, e => e.EventCase == CompletionChunk.EventOneofCase.Finish);
        Assert.Equal(2, events.Count(e => e.EventCase == CompletionChunk.EventOneofCase.Delta));
        var error = events[^1].Error;
        Assert.Equal("stream_interrupted", error.Kind);
        Assert.Equal((int)StatusCode.Unavailable, error.Code);
        Assert.Equal("stream_interrupted", trailers.GetValue("gateway-error-kind"));
        Assert.Empty(fake.CallsTo("b1"));
    }

    [Fact]
    public async Task Stream_UpstreamEndsWithoutTerminalEvent_IsAnError()
    {
        var fake = new FakeProvider();
        fake.Script("p1", new Behavior { TokensBeforeFailure = 1 });
        await using var gateway = await GatewayHarness.StartAsync(PrimaryWithFallback().Build(), fake);

        var (events, status, _) = await gateway.StreamAsync(GatewayHarness.Request("primary"));

        Assert.NotEqual(StatusCode.OK, status.StatusCode);
        Assert.DoesNotContain(events, e => e.EventCase == CompletionChunk.EventOneofCase.Finish);
    }

    [Fact]
    public async Task Deadline_300msAgainstSlowProvider_DeadlineExceededPromptly_UpstreamAborted()
    {
        var fake = new FakeProvider();
        // The provider would take 30 s: the bound below separates "deadline honoured" from "waited for the
        // provider" by an order of magnitude, so a loaded machine cannot make it flaky.
        fake.Script("p1", Behavior.Ok(delayMs: 30_000));
        await using var gateway = await GatewayHarness.StartAsync(new ConfigBuilder().Model("primary", ["p1"]).Build(), fake);

        var watch = Stopwatch.StartNew();
        // 2 s: enough for a loaded machine to reach the provider, far short of its 30 s.
        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(GatewayHarness.Request("primary"), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(2))));
        watch.Stop();

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        Assert.True(watch.ElapsedMilliseconds < 10_000, $"took {watch.ElapsedMilliseconds} ms");
        var call = Assert.Single(fake.Calls);
        await call.Ended.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(call.Cancelled);
    }

    [Fact]
    public async Task Deadline_TooLittleBudgetLeft_NoRetryStarts()
    {
        var fake = new FakeProvider();
        // The provider asks for 10 s before a retry; the caller allows 3 s (room for the first attempt on a loaded machine).
        fake.Script("p1", Behavior.Error(ProviderErrorKind.ServerError, retryAfterMs: 10_000));
        var config = new ConfigBuilder().Model("primary", ["p1"], (c, p) => c[p + "retry:maxAttempts"] = "5").Build();
        await using var gateway = await GatewayHarness.StartAsync(config, fake);

        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(GatewayHarness.Request("primary"), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(3))));

        Assert.NotEqual(StatusCode.OK, ex.StatusCode);
        Assert.Single(fake.Calls);
    }

    [Fact]
    public async Task Cancel_MidStream_UpstreamAborted_NoLaterAttempt()
    {
        var fake = new FakeProvider();
        fake.Script("p1", new Behavior { Tokens = 1000, TokenInterval = TimeSpan.FromMilliseconds(20) });
        await using var gateway = await GatewayHarness.StartAsync(PrimaryWithFallback(maxAttempts: 3).Build(), fake);
        var calls = gateway.Service<CompletionTelemetry>();

        using var cts = new CancellationTokenSource();
        using var call = new Completion.CompletionClient(gateway.Channel).StreamComplete(GatewayHarness.Request("primary"), new CallOptions(cancellationToken: cts.Token));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None)); // start
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None)); // first delta
        await cts.CancelAsync();
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);

        var upstream = Assert.Single(fake.Calls);
        await upstream.Ended.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(upstream.Cancelled);

        // The client's Cancelled is its own; the gateway's call (its attempt, the settlement)
        // ends after it. Only once it has ended can no other attempt start.
        await Poll.UntilAsync(() => calls.CallsInFlight == 0, "the call ended on the gateway");
        await gateway.Service<LedgerWriter>().FlushAsync();
        var row = Assert.Single(((InMemoryGovernanceStore)gateway.Service<IGovernanceStore>()).Ledger);
        Assert.Equal("p1", row.Deployment);
        Assert.Equal("CANCELLED", row.Status);
        Assert.Equal(1, row.Attempts);
        Assert.Single(fake.Calls);
        Assert.Empty(fake.CallsTo("b1"));
    }

    [Fact]
    public async Task Cancel_DuringRetryWait_NoLaterAttempt()
    {
        var retryAfter = TimeSpan.FromMilliseconds(1500);
        var fake = new FakeProvider();
        fake.Script("p1", Behavior.Error(ProviderErrorKind.RateLimited, retryAfterMs: (int)retryAfter.TotalMilliseconds));
        var config = new ConfigBuilder().Model("primary", ["p1"], (c, p) =>
        {
            c[p + "retry:maxAttempts"] = "3";
            c[p + "retry:maxRetryAfterMs"] = "5000";
        }).Build();
        // The Retry-After wait runs on this clock: it cannot end unless the test moves it.
        var clock = new ManualTimeProvider();
        await using var gateway = await GatewayHarness.StartAsync(config, services => services.AddSingleton<TimeProvider>(clock), fake);
        var calls = gateway.Service<CompletionTelemetry>();

        using var cts = new CancellationTokenSource();
        var pending = gateway.CompleteAsync(GatewayHarness.Request("primary"), new CallOptions(cancellationToken: cts.Token));
        await Poll.UntilAsync(() => clock.PendingTimers.Contains(retryAfter), "the gateway waits out the Retry-After before its retry");
        Assert.Single(fake.Calls);

        await cts.CancelAsync();
        var ex = await Assert.ThrowsAsync<RpcException>(() => pending);
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);

        // The call ends on the gateway with the clock still short of the Retry-After: the wait
        // was cancelled, not waited out (a wait that ignored the cancellation would never end here).
        await Poll.UntilAsync(() => calls.CallsInFlight == 0, "the call ended on the gateway while its retry wait was pending");
        Assert.DoesNotContain(retryAfter, clock.PendingTimers);

        // Past the Retry-After now: nothing is left to make another attempt.
        clock.Advance(retryAfter * 2);
        Assert.Single(fake.Calls);
    }

    [Fact]
    public async Task RequestOverride_FallbackModels_ReplacesConfiguredChain()
    {
        var fake = new FakeProvider();
        fake.Script("p1", Behavior.Error(ProviderErrorKind.ServerError));
        var config = PrimaryWithFallback().Model("other", ["o1"]).Build();
        await using var gateway = await GatewayHarness.StartAsync(config, fake);

        var request = GatewayHarness.Request("primary");
        request.Routing = new RoutingOptions { FallbackModels = { "other" } };
        var response = await gateway.CompleteAsync(request);

        Assert.Equal("o1", response.Routing.Deployment);
        Assert.Empty(fake.CallsTo("b1"));
    }

    [Fact]
    public async Task ContextLengthError_UsesContextFallbackChain()
    {
        var fake = new FakeProvider();
        fake.Script("p1", Behavior.Error(ProviderErrorKind.ContextLengthExceeded));
        var config = new ConfigBuilder()
            .Model("primary", ["p1"], (c, p) =>
            {
                c[p + "fallbacks:0"] = "backup";
                c[p + "contextFallbacks:0"] = "large";
            })
            .Model("backup", ["b1"])
            .Model("large", ["l1"])
            .Build();
        await using var gateway = await GatewayHarness.StartAsync(config, fake);

        var response = await gateway.CompleteAsync(GatewayHarness.Request("primary"));

        Assert.Equal("l1", response.Routing.Deployment);
        Assert.Empty(fake.CallsTo("b1"));
    }

    [Fact]
    public async Task ContentFilter_NoFallbackUnlessConfigured()
    {
        var fake = new FakeProvider();
        fake.Script("p1", Behavior.Error(ProviderErrorKind.ContentFiltered));
        await using var gateway = await GatewayHarness.StartAsync(PrimaryWithFallback(maxAttempts: 3).Build(), fake);

        var ex = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(GatewayHarness.Request("primary")));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Single(fake.Calls);
    }

    [Fact]
    public async Task DeploymentRpm_KeepsUnderProviderLimit_ExtraCallsGoElsewhereWithoutUpstreamCall()
    {
        var fake = new FakeProvider();
        var config = new ConfigBuilder().Model("m", ["limited", "spare"], (c, p) =>
        {
            c[p + "deployments:0:requestsPerMinute"] = "2";
            c[p + "strategy"] = "weighted";
            c[p + "deployments:0:weight"] = "1000";
            c[p + "deployments:1:weight"] = "1";
        }).Build();
        await using var gateway = await GatewayHarness.StartAsync(config, fake);

        var served = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            served.Add((await gateway.CompleteAsync(GatewayHarness.Request("m"))).Routing.Deployment);
        }

        Assert.True(fake.CallsTo("limited").Count() <= 2, $"limited got {fake.CallsTo("limited").Count()} calls");
        Assert.Equal(2, served.Count(d => d == "limited"));
        Assert.Equal(4, served.Count(d => d == "spare"));
    }
}

public sealed class EmbeddingsRouteTests
{
    [Fact]
    public async Task RestEmbeddings_ServedByAnEmbeddingsAdapter_CountedInTheLedger()
    {
        var fake = new FakeEmbeddingsProvider();
        var config = new ConfigBuilder().Model("embed", ["e1"]).Build();
        await using var gateway = await GatewayHarness.StartAsync(config, fake);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        using var response = await http.PostAsync("/v1/embeddings", new StringContent("""{"model":"embed","input":["hello world","second text"]}""", System.Text.Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.IsSuccessStatusCode, body);
        using var json = System.Text.Json.JsonDocument.Parse(body);
        var data = json.RootElement.GetProperty("data");
        Assert.Equal(2, data.GetArrayLength());
        Assert.Equal(3, data[1].GetProperty("embedding").GetArrayLength());
        Assert.Equal(1, data[1].GetProperty("index").GetInt32());
        Assert.Equal(7, json.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(["hello world", "second text"], fake.Inputs);

        await gateway.Service<Gateway.Grpc.Governance.Ledger.LedgerWriter>().FlushAsync();
        var row = Assert.Single(((Gateway.Grpc.Governance.Storage.InMemoryGovernanceStore)gateway.Service<Gateway.Grpc.Governance.Storage.IGovernanceStore>()).Ledger);
        Assert.Equal(7, row.InputTokens);
        Assert.Equal("e1", row.Deployment);
    }

    [Fact]
    public async Task RestEmbeddings_BadInput_SaysWhichField()
    {
        await using var gateway = await GatewayHarness.StartAsync(new ConfigBuilder().Model("embed", ["e1"]).Build(), new FakeEmbeddingsProvider());
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        using var response = await http.PostAsync("/v1/embeddings", new StringContent("""{"model":"embed","input":[1,2]}""", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("\"param\":\"input\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private sealed class FakeEmbeddingsProvider : IProviderAdapter, IEmbeddingsAdapter
    {
        public List<string> Inputs { get; } = [];

        public string Provider => "fake";

        public Task<CompletionResponse> CompleteAsync(ProviderCall call, CancellationToken cancellationToken) => throw new NotSupportedException();

        public IAsyncEnumerable<CompletionChunk> StreamAsync(ProviderCall call, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<EmbeddingsResponse> EmbedAsync(EmbeddingsCall call, CancellationToken cancellationToken)
        {
            Inputs.AddRange(call.Request.Inputs);
            return Task.FromResult(new EmbeddingsResponse(call.Request.Inputs.Select(_ => new[] { 0.1f, 0.2f, 0.3f }).ToArray(), call.Deployment.UpstreamModel, 7));
        }
    }
}
