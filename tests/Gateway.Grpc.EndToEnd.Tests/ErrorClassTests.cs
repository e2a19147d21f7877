using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using Gateway.V1;

namespace Gateway.Grpc.EndToEnd.Tests;

/// <summary>
/// Each normalized error class end to end: the simulator answers with a provider's real error
/// (status, body, headers; triggered by <c>headers.x-sim-*</c> deployment settings, which the
/// adapters send upstream), the adapter normalizes it, the gateway maps it to one gRPC status.
/// </summary>
[Collection("EndToEnd")]
public sealed class ErrorClassTests(SimulatorFixture sim)
{
    public static TheoryData<string> Providers => ProviderMatrixTests.Providers;

    public static TheoryData<string, int, StatusCode, string> StatusCases()
    {
        var data = new TheoryData<string, int, StatusCode, string>();
        foreach (var provider in new[] { "openai", "openai-compatible", "azure-openai", "anthropic", "gemini", "grpc" })
        {
            data.Add(provider, 429, StatusCode.ResourceExhausted, "rate_limited");
            data.Add(provider, 500, StatusCode.Unavailable, "server_error");
            data.Add(provider, 503, StatusCode.Unavailable, "");
            // A gRPC upstream's UNAVAILABLE is "overloaded" only when its message says so; the simulator's does not.
            data.Add(provider, 529, StatusCode.Unavailable, provider == "grpc" ? "" : "overloaded");
            data.Add(provider, 400, StatusCode.InvalidArgument, "bad_request");
            data.Add(provider, 401, StatusCode.Internal, "auth_failure");
        }

        return data;
    }

    private async Task<GatewayHost> StartAsync(string provider, Dictionary<string, string> headers, string keyEnv = SimulatorFixture.KeyEnv)
        => await GatewayHost.StartAsync(new GatewayConfig().Model("m", [sim.Deployment(provider, provider + "-1", headers, keyEnv)]).Build());

    [Theory]
    [MemberData(nameof(StatusCases))]
    public async Task Complete_ProviderStatus_MapsToOneGrpcStatus(string provider, int status, StatusCode expected, string kind)
    {
        var since = sim.Reset();
        var headers = new Dictionary<string, string> { ["x-sim-status"] = status.ToString() };
        if (status == 429)
        {
            headers["x-sim-retry-after-ms"] = "1500";
        }

        await using var gateway = await StartAsync(provider, headers);

        var error = await gateway.CompleteFailsAsync(Requests.Chat("m"));

        Assert.Equal(expected, error.StatusCode);
        var errorKind = error.Trailers.GetValue("gateway-error-kind");
        if (kind.Length > 0)
        {
            Assert.Equal(kind, errorKind);
        }
        else
        {
            // 503 is overloaded or a server error depending on the provider's message; both retryable.
            Assert.Contains(errorKind, new[] { "server_error", "overloaded" });
        }

        if (status == 429)
        {
            Assert.Equal("1500", error.Trailers.GetValue("retry-after-ms"));
        }

        // One attempt, the fault really came from the simulator.
        var record = Assert.Single(sim.RequestsSince(since));
        Assert.Contains(record.Faults, f => f.Contains(status.ToString(), StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task StreamComplete_ProviderRateLimit_ResourceExhaustedWithRetryAfterAndNoEvents(string provider)
    {
        sim.Reset();
        await using var gateway = await StartAsync(provider, new() { ["x-sim-status"] = "429", ["x-sim-retry-after-ms"] = "2500" });

        var result = await gateway.StreamAsync(Requests.Chat("m"));

        Assert.Equal(StatusCode.ResourceExhausted, result.Status.StatusCode);
        Assert.Equal("2500", result.Trailers.GetValue("retry-after-ms"));
        Assert.Equal("rate_limited", result.Trailers.GetValue("gateway-error-kind"));
        Assert.DoesNotContain(result.Events, e => e.EventCase == CompletionChunk.EventOneofCase.Finish);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Complete_CredentialsRefusedByProvider_InternalAuthFailure(string provider)
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync(provider, [], SimulatorFixture.WrongKeyEnv);

        var error = await gateway.CompleteFailsAsync(Requests.Chat("m"));

        Assert.Equal(StatusCode.Internal, error.StatusCode);
        Assert.Equal("auth_failure", error.Trailers.GetValue("gateway-error-kind"));
        // The refused key is never echoed to the caller.
        Assert.DoesNotContain("sk-not-the-right-one", error.Status.Detail, StringComparison.Ordinal);
        var record = Assert.Single(sim.RequestsSince(since));
        // Google answers a bad key with 400 API_KEY_INVALID, the others with 401; gRPC UNAUTHENTICATED (16).
        Assert.True(record.Status is 401 || (provider == "gemini" && record.Status == 400) || record.GrpcStatus == 16, record.ToString());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Complete_MalformedJson_UnavailableNotCrash(string provider)
    {
        sim.Reset();
        await using var gateway = await StartAsync(provider, new() { ["x-sim-malformed"] = "1" });

        var error = await gateway.CompleteFailsAsync(Requests.Chat("m"));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal("server_error", error.Trailers.GetValue("gateway-error-kind"));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task StreamComplete_MalformedEvent_ErrorNotFinish(string provider)
    {
        sim.Reset();
        await using var gateway = await StartAsync(provider, new() { ["x-sim-malformed"] = "1" });

        var result = await gateway.StreamAsync(Requests.Chat("m", maxTokens: 8));

        Assert.NotEqual(StatusCode.OK, result.Status.StatusCode);
        Assert.Null(result.Finish);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task StreamComplete_DisconnectMidStream_ErrorEventAndStatusNotFinish(string provider)
    {
        var since = sim.Reset();
        await using var gateway = await StartAsync(provider, new() { ["x-sim-disconnect-after"] = "3", ["x-sim-output-tokens"] = "40" });

        var result = await gateway.StreamAsync(Requests.Chat("m", maxTokens: 64));

        Assert.Equal(StatusCode.Unavailable, result.Status.StatusCode);
        Assert.Null(result.Finish);
        Assert.NotEmpty(result.Text);
        Assert.Equal(CompletionChunk.EventOneofCase.Error, result.Events[^1].EventCase);
        Assert.Equal("stream_interrupted", result.Error!.Kind);
        Assert.Equal("stream_interrupted", result.Trailers.GetValue("gateway-error-kind"));
        var record = Assert.Single(sim.RequestsSince(since));
        Assert.True(record.Disconnected, record.ToString());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task StreamComplete_InStreamOverloadedError_ErrorEventNotFinish(string provider)
    {
        sim.Reset();
        await using var gateway = await StartAsync(provider, new() { ["x-sim-error-after"] = "2", ["x-sim-status"] = "529", ["x-sim-output-tokens"] = "40" });

        var result = await gateway.StreamAsync(Requests.Chat("m", maxTokens: 64));

        Assert.Equal(StatusCode.Unavailable, result.Status.StatusCode);
        Assert.Null(result.Finish);
        Assert.NotEmpty(result.Text);
        Assert.Equal(CompletionChunk.EventOneofCase.Error, result.Events[^1].EventCase);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task StreamComplete_ClientCancels_UpstreamRequestAborted(string provider)
    {
        var since = sim.Reset();
        // 400 tokens at 20/s: the stream would run 20 s; the test ends as soon as the abort is recorded.
        await using var gateway = await StartAsync(provider, new() { ["x-sim-tokens-per-second"] = "20", ["x-sim-output-tokens"] = "400" });
        using var cts = new CancellationTokenSource();
        using var call = new Completion.CompletionClient(gateway.Channel).StreamComplete(Requests.Chat("m", maxTokens: 500), new CallOptions(cancellationToken: cts.Token));

        // Wait for real output: the upstream request is then certainly in flight.
        while (await call.ResponseStream.MoveNext(CancellationToken.None) && call.ResponseStream.Current.EventCase != CompletionChunk.EventOneofCase.Delta)
        {
        }

        Assert.Equal(CompletionChunk.EventOneofCase.Delta, call.ResponseStream.Current.EventCase);
        var record = Assert.Single(sim.RequestsSince(since));
        Assert.False(record.Completed);
        await cts.CancelAsync();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var ended = await sim.State.WaitForAbortAsync(record.Id, timeout.Token);
        Assert.True(ended.Aborted);
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
    }
}
