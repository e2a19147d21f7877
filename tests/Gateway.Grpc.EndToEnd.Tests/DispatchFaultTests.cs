using System.Diagnostics;
using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using Gateway.Grpc.Simulator;
using Gateway.V1;

namespace Gateway.Grpc.EndToEnd.Tests;

/// <summary>
/// Retries, fallback, timeouts, hedging and deadlines against the simulator's fault injection:
/// the primary deployment (OpenAI wire format) misbehaves, the fallback (Anthropic) is healthy.
/// </summary>
[Collection("EndToEnd")]
public sealed class DispatchFaultTests(SimulatorFixture sim)
{
    private Deployment Primary(Dictionary<string, string>? headers = null) => sim.Deployment("openai", "primary-1", headers);

    private Deployment Backup() => sim.Deployment("anthropic", "backup-1");

    private static Task<GatewayHost> StartWithFallbackAsync(Deployment primary, Deployment backup, Action<Dictionary<string, string?>, string>? extra = null)
        => GatewayHost.StartAsync(new GatewayConfig()
            .Model("primary", [primary], (values, prefix) =>
            {
                values[prefix + "fallbacks:0"] = "backup";
                extra?.Invoke(values, prefix);
            })
            .Model("backup", [backup])
            .Build());

    private static void AssertServedByFallback(RoutingInfo routing, string firstError)
    {
        Assert.Equal("backup-1", routing.Deployment);
        Assert.Equal(2, routing.Attempts.Count);
        Assert.Equal("primary-1", routing.Attempts[0].Deployment);
        Assert.Equal(AttemptOutcome.Failed, routing.Attempts[0].Outcome);
        Assert.Contains(firstError, routing.Attempts[0].Error, StringComparison.Ordinal);
        Assert.Equal("backup-1", routing.Attempts[1].Deployment);
        Assert.True(routing.Attempts[1].Fallback);
        Assert.Equal(AttemptOutcome.Success, routing.Attempts[1].Outcome);
    }

    [Theory]
    [InlineData(429, "rate_limited")]
    [InlineData(500, "server_error")]
    [InlineData(503, "")]
    [InlineData(529, "overloaded")]
    public async Task Complete_PrimaryRetryableStatus_ServedByFallback(int status, string kind)
    {
        var since = sim.Reset();
        await using var gateway = await StartWithFallbackAsync(Primary(new() { ["x-sim-status"] = status.ToString() }), Backup());

        var response = await gateway.CompleteAsync(Requests.Chat("primary"));

        AssertServedByFallback(response.Routing, kind);
        Assert.False(string.IsNullOrEmpty(response.Message.Content));
        var records = sim.RequestsSince(since);
        Assert.Equal(2, records.Count);
        Assert.Equal(("openai", status), (records[0].Api, records[0].Status ?? 0));
        Assert.Equal(("anthropic", 200), (records[1].Api, records[1].Status ?? 0));
    }

    [Theory]
    [InlineData(429)]
    [InlineData(503)]
    public async Task StreamComplete_PrimaryRetryableStatus_FallbackInvisibleToClient(int status)
    {
        sim.Reset();
        await using var gateway = await StartWithFallbackAsync(Primary(new() { ["x-sim-status"] = status.ToString() }), Backup());

        var result = await gateway.StreamAsync(Requests.Chat("primary"));

        Assert.True(result.Status.StatusCode == StatusCode.OK, result.Describe());
        Assert.DoesNotContain(result.Events, e => e.EventCase == CompletionChunk.EventOneofCase.Error);
        Assert.Equal("backup-1", result.Events[0].Start.Deployment);
        AssertServedByFallback(result.Finish!.Routing, "");
    }

    [Fact]
    public async Task Complete_ScriptedTransient503_RetriedOnSameGroupAndSucceeds()
    {
        var since = sim.Reset();
        sim.State.EnqueueFault(new FaultScript { Model = "gpt-4o-mini", Status = 503, Count = 1 });
        await using var gateway = await StartWithFallbackAsync(Primary(), Backup(), static (v, p) => v[p + "retry:maxAttempts"] = "2");

        var response = await gateway.CompleteAsync(Requests.Chat("primary"));

        Assert.Equal("primary-1", response.Routing.Deployment);
        Assert.Equal(2, response.Routing.Attempts.Count);
        var records = sim.RequestsSince(since);
        Assert.Equal(new int?[] { 503, 200 }, records.Select(r => r.Status).ToArray());
        Assert.All(records, r => Assert.Equal("openai", r.Api));
    }

    [Fact]
    public async Task Complete_PrimaryConnectionRefused_ServedByFallback()
    {
        var since = sim.Reset();
        var closed = ClosedPort();
        await using var gateway = await StartWithFallbackAsync(Primary().WithBaseUrl($"http://127.0.0.1:{closed}/v1"), Backup());

        var response = await gateway.CompleteAsync(Requests.Chat("primary"));

        AssertServedByFallback(response.Routing, "connection_failure");
        var record = Assert.Single(sim.RequestsSince(since));
        Assert.Equal("anthropic", record.Api);
    }

    [Fact]
    public async Task Complete_PrimaryHeadersLaterThanAttemptTimeout_FallbackAndPrimaryAborted()
    {
        var since = sim.Reset();
        await using var gateway = await StartWithFallbackAsync(
            Primary(new() { ["x-sim-latency-ms"] = "20000" }),
            Backup(),
            static (v, p) => v[p + "timeouts:attemptMs"] = "300");
        var clock = Stopwatch.StartNew();

        var response = await gateway.CompleteAsync(Requests.Chat("primary"));

        clock.Stop();
        AssertServedByFallback(response.Routing, "timeout");
        Assert.True(clock.ElapsedMilliseconds < 5000, $"took {clock.ElapsedMilliseconds} ms");
        var primary = sim.RequestsSince(since).First(r => r.Api == "openai");
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.True((await sim.State.WaitForAbortAsync(primary.Id, wait.Token)).Aborted);
    }

    [Fact]
    public async Task StreamComplete_PrimaryFirstTokenLaterThanLimit_FallbackAndPrimaryAborted()
    {
        var since = sim.Reset();
        await using var gateway = await StartWithFallbackAsync(
            Primary(new() { ["x-sim-ttft-ms"] = "20000" }),
            Backup(),
            static (v, p) => v[p + "timeouts:firstTokenMs"] = "300");

        var result = await gateway.StreamAsync(Requests.Chat("primary"));

        Assert.True(result.Status.StatusCode == StatusCode.OK, result.Describe());
        Assert.Equal("backup-1", result.Events[0].Start.Deployment);
        AssertServedByFallback(result.Finish!.Routing, "timeout");
        var primary = sim.RequestsSince(since).First(r => r.Api == "openai");
        Assert.True(primary.Stream);
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.True((await sim.State.WaitForAbortAsync(primary.Id, wait.Token)).Aborted);
    }

    [Theory]
    [InlineData(400, StatusCode.InvalidArgument, "bad_request")]
    [InlineData(401, StatusCode.Internal, "auth_failure")]
    public async Task Complete_NonRetryableStatus_NoRetryNoFallback(int status, StatusCode expected, string kind)
    {
        var since = sim.Reset();
        // Two deployments and three attempts available, and a fallback: none of them may be used.
        var second = sim.Deployment("openai", "primary-2", new Dictionary<string, string> { ["x-sim-status"] = status.ToString() });
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig()
            .Model("primary", [Primary(new() { ["x-sim-status"] = status.ToString() }), second], static (v, p) =>
            {
                v[p + "fallbacks:0"] = "backup";
                v[p + "retry:maxAttempts"] = "3";
            })
            .Model("backup", [Backup()])
            .Build());

        var error = await gateway.CompleteFailsAsync(Requests.Chat("primary"));

        Assert.Equal(expected, error.StatusCode);
        Assert.Equal(kind, error.Trailers.GetValue("gateway-error-kind"));
        var record = Assert.Single(sim.RequestsSince(since));
        Assert.Equal(status, record.Status);
    }

    /// <summary>The slow deployment is picked first (lowest-cost), the hedge goes to the fast one.</summary>
    private Task<GatewayHost> StartHedgedAsync(Dictionary<string, string> slowHeaders)
    {
        var slow = sim.Deployment("openai", "slow-1", slowHeaders) with { InputCostPerMillion = 0.1, OutputCostPerMillion = 0.1 };
        var fast = sim.Deployment("anthropic", "fast-1") with { InputCostPerMillion = 50, OutputCostPerMillion = 50 };
        return GatewayHost.StartAsync(new GatewayConfig()
            .Model("hedged", [slow, fast], static (v, p) =>
            {
                v[p + "strategy"] = "lowest-cost";
                v[p + "hedging:enabled"] = "true";
                v[p + "hedging:delayMs"] = "100";
                v[p + "hedging:adaptive"] = "false";
            })
            .Build());
    }

    [Fact]
    public async Task Complete_Hedged_FastDeploymentWinsAndSlowRequestAborted()
    {
        var since = sim.Reset();
        await using var gateway = await StartHedgedAsync(new() { ["x-sim-latency-ms"] = "20000" });

        var response = await gateway.CompleteAsync(Requests.Chat("hedged"));

        Assert.Equal("fast-1", response.Routing.Deployment);
        var slowAttempt = Assert.Single(response.Routing.Attempts, a => a.Deployment == "slow-1");
        Assert.Equal(AttemptOutcome.Cancelled, slowAttempt.Outcome);
        Assert.True(Assert.Single(response.Routing.Attempts, a => a.Deployment == "fast-1").Hedged);
        var slow = Assert.Single(sim.RequestsSince(since), r => r.Api == "openai");
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.True((await sim.State.WaitForAbortAsync(slow.Id, wait.Token)).Aborted);
    }

    [Fact]
    public async Task StreamComplete_Hedged_FirstTokenWinsAndSlowStreamAborted()
    {
        var since = sim.Reset();
        await using var gateway = await StartHedgedAsync(new() { ["x-sim-ttft-ms"] = "20000" });

        var result = await gateway.StreamAsync(Requests.Chat("hedged"));

        Assert.True(result.Status.StatusCode == StatusCode.OK, result.Describe());
        Assert.Equal("fast-1", result.Finish!.Routing.Deployment);
        Assert.Equal(AttemptOutcome.Cancelled, Assert.Single(result.Finish.Routing.Attempts, a => a.Deployment == "slow-1").Outcome);
        var slow = Assert.Single(sim.RequestsSince(since), r => r.Api == "openai");
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.True((await sim.State.WaitForAbortAsync(slow.Id, wait.Token)).Aborted);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Call_DeadlineShorterThanProvider_DeadlineExceededOnTimeAndUpstreamAborted(bool stream)
    {
        // The provider would take 30 s; the caller allows 300 ms. Without deadline propagation the call
        // (and the upstream request) would last the provider's 30 s, so the bounds below separate the two
        // outcomes by an order of magnitude instead of timing the gateway against a tight wall clock,
        // which a loaded CI machine cannot promise.
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig()
            .Model("slow", [Primary(new() { [stream ? "x-sim-ttft-ms" : "x-sim-latency-ms"] = "30000" })])
            .Build());
        // Warm the connection so connection set-up is not part of the measured deadline.
        await new Models.ModelsClient(gateway.Channel).ListModelsAsync(new ListModelsRequest(), default).ResponseAsync;
        var clock = Stopwatch.StartNew();

        var status = stream
            ? (await gateway.StreamAsync(Requests.Chat("slow"), new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(300)))).Status
            : (await gateway.CompleteFailsAsync(Requests.Chat("slow"), new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(300)))).Status;

        clock.Stop();
        Assert.Equal(StatusCode.DeadlineExceeded, status.StatusCode);
        Assert.True(clock.ElapsedMilliseconds is >= 280 and < 10_000, $"DEADLINE_EXCEEDED after {clock.ElapsedMilliseconds} ms");
        var record = Assert.Single(sim.RequestsSince(since));
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var ended = await sim.State.WaitForAbortAsync(record.Id, wait.Token);
        Assert.True(ended.Aborted, ended.ToString());
        // Aborted by the deadline, long before the provider's 30 s.
        Assert.True(ended.EndedAt!.Value - ended.StartedAt < TimeSpan.FromSeconds(10), ended.ToString());
    }

    /// <summary>A loopback port nobody listens on, below the kernel's ephemeral range (tests/Shared/LoopbackPort.cs).</summary>
    private static int ClosedPort() => Gateway.Grpc.TestSupport.LoopbackPort.Reserve();
}
