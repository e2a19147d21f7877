using System.Globalization;
using System.Net;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Observability.Tests.Infrastructure;
using Grpc.Core;

namespace Gateway.Grpc.Observability.Tests;

public sealed class MetricsEndpointTests
{
    [Fact]
    public async Task Scrape_AfterUnaryAndStreamCalls_HasRequestTokenTtftAndCircuitSeries()
    {
        var provider = new ScriptedProvider();
        await using var gateway = await TestGateway.StartAsync(Models.Config(("chat", ["chat-1"], null)), provider);
        await gateway.CompleteAsync(TestGateway.Request("chat"));
        var (_, status) = await gateway.StreamAsync(TestGateway.Request("chat"));
        Assert.Equal(StatusCode.OK, status.StatusCode);

        var response = await gateway.Http.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.Contains("gateway_requests_total{model=\"chat\",provider=\"fake\",route=\"grpc\",status=\"OK\",stream=\"false\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_requests_total{model=\"chat\",provider=\"fake\",route=\"grpc\",status=\"OK\",stream=\"true\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_request_duration_seconds_count{model=\"chat\",provider=\"fake\",route=\"grpc\",status=\"OK\",stream=\"true\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_time_to_first_token_seconds_count{model=\"chat\",provider=\"fake\",route=\"grpc\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_tokens_total{model=\"chat\",provider=\"fake\",type=\"input\"} 22\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_tokens_total{model=\"chat\",provider=\"fake\",type=\"output\"} 11\n", text, StringComparison.Ordinal);
        // Priced at 1 and 2 US$ per million tokens: 22 in + 11 out.
        var cost = Value(text, "gateway_cost_usd_total{model=\"chat\",provider=\"fake\"}");
        Assert.Equal((22 * 1 + 11 * 2) / 1e6, cost, 12);
        Assert.Contains("gateway_attempts_total{deployment=\"chat-1\",outcome=\"success\",provider=\"fake\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_circuit_state{deployment=\"chat-1\",provider=\"fake\",state=\"closed\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_circuit_state{deployment=\"chat-1\",provider=\"fake\",state=\"open\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_streams_in_flight{model=\"chat\"} 0\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scrape_RetryThenFallback_CountsRetriesFallbacksAndFailedAttempts()
    {
        var provider = new ScriptedProvider();
        provider.Script("primary-1", ProviderErrorKind.Overloaded);
        await using var gateway = await TestGateway.StartAsync(Models.Config(("primary", ["primary-1"], ["backup"]), ("backup", ["backup-1"], null)), provider);

        var response = await gateway.CompleteAsync(TestGateway.Request("primary"));
        var text = await gateway.ScrapeAsync();

        Assert.Equal("backup-1", response.Routing.Deployment);
        Assert.Contains("gateway_retries_total{model=\"primary\",reason=\"overloaded\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_fallbacks_total{fallback_model=\"backup\",model=\"primary\",reason=\"overloaded\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_attempts_total{deployment=\"primary-1\",error=\"overloaded\",outcome=\"failed\",provider=\"fake\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_requests_total{model=\"primary\",provider=\"fake\",route=\"grpc\",status=\"OK\",stream=\"false\"} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scrape_FailedAndUnknownModelCalls_CountedByStatus_UnknownModelsShareOneLabel()
    {
        var provider = new ScriptedProvider();
        provider.Script("chat-1", ProviderErrorKind.BadRequest);
        await using var gateway = await TestGateway.StartAsync(Models.Config(("chat", ["chat-1"], null)), provider);

        var bad = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(TestGateway.Request("chat")));
        await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(TestGateway.Request("no-such-model-" + Guid.NewGuid())));
        var text = await gateway.ScrapeAsync();

        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains("gateway_requests_total{model=\"chat\",route=\"grpc\",status=\"INVALID_ARGUMENT\",stream=\"false\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_requests_total{model=\"unknown\",route=\"grpc\",status=\"NOT_FOUND\",stream=\"false\"} 1\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("no-such-model", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scrape_OfARunningGateway_PassesPromtoolCheckMetrics()
    {
        var promtool = Tools.Require("promtool");
        var provider = new ScriptedProvider();
        provider.Script("flaky-1", ProviderErrorKind.RateLimited, null);
        await using var gateway = await TestGateway.StartAsync(Models.Config(("chat", ["chat-1"], null), ("flaky", ["flaky-1"], null)), provider);
        await gateway.CompleteAsync(TestGateway.Request("chat"));
        await gateway.StreamAsync(TestGateway.Request("chat"));
        await gateway.CompleteAsync(TestGateway.Request("flaky"));
        var governance = gateway.Service<Metrics.GatewayMetrics>();
        governance.RecordRateLimitRefusal("payments", "rpm");
        governance.RecordBudgetRefusal("payments", "monthly");

        var text = await gateway.ScrapeAsync();
        var (exit, output) = await Tools.RunAsync(promtool, "check metrics", text);

        Assert.True(exit == 0, "promtool check metrics failed:\n" + output + "\n---\n" + text);
        Assert.Contains("gateway_rate_limit_refusals_total{limit=\"rpm\",team=\"payments\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("gateway_budget_refusals_total{budget=\"monthly\",team=\"payments\"} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OtlpMetricsEnabled_PushesTheGatewayInstruments()
    {
        await using var collector = await HttpRecorder.StartAsync();
        var config = Models.Config(("chat", ["chat-1"], null));
        config["telemetry:metrics:otlp"] = "true";
        config["telemetry:otlpEndpoint"] = collector.Address.ToString();
        config["telemetry:otlpProtocol"] = "http/protobuf";
        var gateway = await TestGateway.StartAsync(config, new ScriptedProvider());
        try
        {
            await gateway.CompleteAsync(TestGateway.Request("chat"));
        }
        finally
        {
            // Shutdown flushes the periodic reader.
            await gateway.DisposeAsync();
        }

        var body = collector.Requests.Where(r => r.Path == "/v1/metrics").SelectMany(r => r.Body).ToArray();
        foreach (var expected in new[] { "gateway.requests", "gateway.request.duration", "gateway.tokens", "gateway.circuit.state" })
        {
            Assert.True(body.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(expected)) >= 0, $"'{expected}' not pushed");
        }
    }

    [Fact]
    public async Task MetricsEndpoint_TurnedOff_Returns404()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string?> { ["telemetry:metrics:prometheus"] = "false" });

        var response = await gateway.Http.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private static double Value(string text, string series)
    {
        var line = text.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }
}
