using System.Net;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Observability.Tests.Infrastructure;
using Gateway.V1;
using Grpc.Core;

namespace Gateway.Grpc.Observability.Tests;

public sealed class MetricsEndpointTests
{
    [Fact]
    public async Task Scrape_AfterUnaryAndStreamCalls_HasRequestTokenTtftAndCircuitSeries()
    {
        var provider = new ScriptedProvider();
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), provider);
        await gateway.CompleteAsync(TestGateway.Request("chat"));
        var (_, status) = await gateway.StreamAsync(TestGateway.Request("chat"));
        Assert.Equal(StatusCode.OK, status.StatusCode);

        var response = await gateway.Http.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();
        var samples = Exposition.Parse(text);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.Equal(1, samples.Value("gateway_requests_total", ("model", "chat"), ("provider", "fake"), ("route", "grpc"), ("status", "OK"), ("stream", "false")));
        Assert.Equal(1, samples.Value("gateway_requests_total", ("model", "chat"), ("provider", "fake"), ("route", "grpc"), ("status", "OK"), ("stream", "true")));
        Assert.Equal(1, samples.Value("gateway_request_duration_seconds_count", ("model", "chat"), ("provider", "fake"), ("route", "grpc"), ("status", "OK"), ("stream", "true")));
        Assert.Equal(1, samples.Value("gateway_time_to_first_token_seconds_count", ("model", "chat"), ("provider", "fake"), ("route", "grpc")));
        Assert.Equal(22, samples.Value("gateway_tokens_total", ("model", "chat"), ("provider", "fake"), ("type", "input")));
        Assert.Equal(11, samples.Value("gateway_tokens_total", ("model", "chat"), ("provider", "fake"), ("type", "output")));
        // Priced at 1 and 2 US$ per million tokens: 22 in + 11 out.
        Assert.Equal((22 * 1 + 11 * 2) / 1e6, samples.Value("gateway_cost_usd_total", ("model", "chat"), ("provider", "fake")), 12);
        Assert.Equal(2, samples.Value("gateway_attempts_total", ("deployment", "chat-1"), ("outcome", "success"), ("provider", "fake")));
        Assert.Equal(1, samples.Value("gateway_circuit_state", ("deployment", "chat-1"), ("provider", "fake"), ("state", "closed")));
        Assert.Equal(0, samples.Value("gateway_circuit_state", ("deployment", "chat-1"), ("provider", "fake"), ("state", "open")));
        Assert.Equal(0, samples.Value("gateway_streams_in_flight", ("model", "chat")));
        // The instrument advice (our buckets) reached the exporter.
        Assert.Equal(2, samples.Value("gateway_request_duration_seconds_bucket", ("model", "chat"), ("provider", "fake"), ("route", "grpc"), ("status", "OK"), ("stream", "false"), ("le", "300")) + samples.Value("gateway_request_duration_seconds_bucket", ("model", "chat"), ("provider", "fake"), ("route", "grpc"), ("status", "OK"), ("stream", "true"), ("le", "300")));
        Assert.True(samples.Has("gateway_time_to_first_token_seconds_bucket", ("model", "chat"), ("provider", "fake"), ("route", "grpc"), ("le", "0.01")));
        // Every series names its instrumentation scope, the gateway's meter.
        Assert.All(samples.Where(s => s.Name.StartsWith("gateway_", StringComparison.Ordinal)), s => Assert.Equal("Gateway.Grpc", s.Labels["otel_scope_name"]));
    }

    [Fact]
    public async Task Scrape_AfterUnaryAndStreamCalls_HasGenAiSemanticConventionSeries()
    {
        var provider = new ScriptedProvider();
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), provider);
        var unary = await gateway.CompleteAsync(TestGateway.Request("chat"));
        var (events, _) = await gateway.StreamAsync(TestGateway.Request("chat"));

        var samples = Exposition.Parse(await gateway.ScrapeAsync());

        var streamModel = events.First(e => e.EventCase == CompletionChunk.EventOneofCase.Start).Start.Model;
        (string, string)[] Call(string responseModel) => [("gen_ai_operation_name", "chat"), ("gen_ai_provider_name", "fake"), ("gen_ai_request_model", "chat"), ("gen_ai_response_model", responseModel)];
        (string, string)[] With((string, string)[] tags, params (string, string)[] more) => [.. tags, .. more];
        // gen_ai.client.token.usage: one histogram, split by gen_ai.token.type, the call's billed tokens.
        Assert.Equal(11, samples.Value("gen_ai_client_token_usage_sum", With(Call(unary.Model), ("gen_ai_token_type", "input"))));
        Assert.Equal(7, samples.Value("gen_ai_client_token_usage_sum", With(Call(unary.Model), ("gen_ai_token_type", "output"))));
        Assert.Equal(4, samples.Value("gen_ai_client_token_usage_sum", With(Call(streamModel), ("gen_ai_token_type", "output"))));
        // The conventions' token buckets (powers of 4): 7 tokens are in le=16, not in le=4.
        Assert.Equal(0, samples.Value("gen_ai_client_token_usage_bucket", With(Call(unary.Model), ("gen_ai_token_type", "output"), ("le", "4"))));
        Assert.Equal(1, samples.Value("gen_ai_client_token_usage_bucket", With(Call(unary.Model), ("gen_ai_token_type", "output"), ("le", "16"))));
        // gen_ai.server.*: the gateway as the model server its callers see.
        Assert.Equal(1, samples.Value("gen_ai_server_request_duration_seconds_count", Call(unary.Model)));
        Assert.Equal(1, samples.Value("gen_ai_server_request_duration_seconds_count", Call(streamModel)));
        Assert.True(samples.Has("gen_ai_server_request_duration_seconds_bucket", With(Call(unary.Model), ("le", "81.92"))));
        Assert.Equal(1, samples.Value("gen_ai_server_time_to_first_token_seconds_count", ("gen_ai_operation_name", "chat"), ("gen_ai_provider_name", "fake"), ("gen_ai_request_model", "chat")));
        Assert.True(samples.Has("gen_ai_server_time_to_first_token_seconds_bucket", ("gen_ai_operation_name", "chat"), ("gen_ai_provider_name", "fake"), ("gen_ai_request_model", "chat"), ("le", "0.001")));
        Assert.Equal(1, samples.Value("gen_ai_server_time_per_output_token_seconds_count", Call(streamModel)));
        Assert.True(samples.Has("gen_ai_server_time_per_output_token_seconds_bucket", With(Call(streamModel), ("le", "0.075"))));
        // gen_ai.client.operation.duration: the gateway as the provider's client, one per attempt, the upstream model name.
        Assert.Equal(2, samples.Value("gen_ai_client_operation_duration_seconds_count", ("gen_ai_operation_name", "chat"), ("gen_ai_provider_name", "fake"), ("gen_ai_request_model", "chat")));
    }

    [Fact]
    public async Task Scrape_RetryThenFallback_CountsRetriesFallbacksAndFailedAttempts()
    {
        var provider = new ScriptedProvider();
        provider.Script("primary-1", ProviderErrorKind.Overloaded);
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("primary", ["primary-1"], ["backup"]), ("backup", ["backup-1"], null)), provider);

        var response = await gateway.CompleteAsync(TestGateway.Request("primary"));
        var samples = Exposition.Parse(await gateway.ScrapeAsync());

        Assert.Equal("backup-1", response.Routing.Deployment);
        Assert.Equal(2, samples.Value("gateway_retries_total", ("model", "primary"), ("reason", "overloaded")));
        Assert.Equal(1, samples.Value("gateway_fallbacks_total", ("fallback_model", "backup"), ("model", "primary"), ("reason", "overloaded")));
        Assert.Equal(3, samples.Value("gateway_attempts_total", ("deployment", "primary-1"), ("error", "overloaded"), ("outcome", "failed"), ("provider", "fake")));
        Assert.Equal(1, samples.Value("gateway_requests_total", ("model", "primary"), ("provider", "fake"), ("route", "grpc"), ("status", "OK"), ("stream", "false")));
        Assert.Equal(3, samples.Value("gen_ai_client_operation_duration_seconds_count", ("error_type", "overloaded"), ("gen_ai_operation_name", "chat"), ("gen_ai_provider_name", "fake"), ("gen_ai_request_model", "primary")));
        Assert.Equal(1, samples.Value("gen_ai_client_operation_duration_seconds_count", ("gen_ai_operation_name", "chat"), ("gen_ai_provider_name", "fake"), ("gen_ai_request_model", "backup")));
    }

    [Fact]
    public async Task Scrape_FailedAndUnknownModelCalls_CountedByStatus_UnknownModelsShareOneLabel()
    {
        var provider = new ScriptedProvider();
        provider.Script("chat-1", ProviderErrorKind.BadRequest);
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), provider);

        var bad = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(TestGateway.Request("chat")));
        await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(TestGateway.Request("no-such-model-" + Guid.NewGuid())));
        var text = await gateway.ScrapeAsync();
        var samples = Exposition.Parse(text);

        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Equal(1, samples.Value("gateway_requests_total", ("model", "chat"), ("route", "grpc"), ("status", "INVALID_ARGUMENT"), ("stream", "false")));
        Assert.Equal(1, samples.Value("gateway_requests_total", ("model", "unknown"), ("route", "grpc"), ("status", "NOT_FOUND"), ("stream", "false")));
        Assert.Equal(1, samples.Value("gen_ai_server_request_duration_seconds_count", ("error_type", "bad_request"), ("gen_ai_operation_name", "chat"), ("gen_ai_request_model", "chat")));
        Assert.Equal(1, samples.Value("gen_ai_server_request_duration_seconds_count", ("error_type", "not_found"), ("gen_ai_operation_name", "chat"), ("gen_ai_request_model", "unknown")));
        Assert.DoesNotContain("no-such-model", text, StringComparison.Ordinal);
        Assert.Empty(samples.Family("gen_ai_client_token_usage_count"));
    }

    [Fact]
    public async Task Scrape_TwoGatewaysInOneProcess_EachShowsOnlyItsOwnSeries()
    {
        await using var first = await TestGateway.StartAsync(TestModels.Config(("first-model", ["first-1"], null)), new ScriptedProvider());
        await using var second = await TestGateway.StartAsync(TestModels.Config(("second-model", ["second-1"], null)), new ScriptedProvider());
        await first.CompleteAsync(TestGateway.Request("first-model"));
        await second.CompleteAsync(TestGateway.Request("second-model"));
        await second.CompleteAsync(TestGateway.Request("second-model"));

        var ofFirst = Exposition.Parse(await first.ScrapeAsync());
        var ofSecond = Exposition.Parse(await second.ScrapeAsync());

        // Same meter name in both hosts; each exports only the meter its own IMeterFactory created.
        Assert.Equal(1, Assert.Single(ofFirst.Family("gateway_requests_total")).Value);
        Assert.Equal("first-model", ofFirst.Family("gateway_requests_total")[0].Labels["model"]);
        Assert.Equal(2, Assert.Single(ofSecond.Family("gateway_requests_total")).Value);
        Assert.Equal("second-model", ofSecond.Family("gateway_requests_total")[0].Labels["model"]);
        Assert.All(ofFirst.Family("gateway_circuit_state"), s => Assert.Equal("first-1", s.Labels["deployment"]));
        Assert.All(ofSecond.Family("gateway_circuit_state"), s => Assert.Equal("second-1", s.Labels["deployment"]));
        Assert.DoesNotContain(ofFirst, s => s.Labels.Values.Contains("second-model"));
        Assert.DoesNotContain(ofSecond, s => s.Labels.Values.Contains("first-model"));
    }

    [Fact]
    public async Task Scrape_OfARunningGateway_PassesPromtoolCheckMetrics()
    {
        var promtool = Tools.Require("promtool");
        var provider = new ScriptedProvider();
        provider.Script("flaky-1", ProviderErrorKind.RateLimited, null);
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null), ("flaky", ["flaky-1"], null)), provider);
        await gateway.CompleteAsync(TestGateway.Request("chat"));
        await gateway.StreamAsync(TestGateway.Request("chat"));
        await gateway.CompleteAsync(TestGateway.Request("flaky"));
        var governance = gateway.Service<Metrics.GatewayMetrics>();
        governance.RecordRateLimitRefusal("payments", "rpm");
        governance.RecordBudgetRefusal("payments", "monthly");

        var text = await gateway.ScrapeAsync();
        var (exit, output) = await Tools.RunAsync(promtool, "check metrics", text);

        Assert.True(exit == 0, "promtool check metrics failed:\n" + output + "\n---\n" + text);
        var samples = Exposition.Parse(text);
        Assert.Equal(1, samples.Value("gateway_rate_limit_refusals_total", ("limit", "rpm"), ("team", "payments")));
        Assert.Equal(1, samples.Value("gateway_budget_refusals_total", ("budget", "monthly"), ("team", "payments")));
        Assert.Contains(samples, s => s.Name.StartsWith("gen_ai_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OtlpMetricsEnabled_PushesTheGatewayInstruments()
    {
        await using var collector = await HttpRecorder.StartAsync();
        var config = TestModels.Config(("chat", ["chat-1"], null));
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
        foreach (var expected in new[] { "gateway.requests", "gateway.request.duration", "gateway.tokens", "gateway.circuit.state", "gen_ai.client.token.usage", "gen_ai.server.request.duration" })
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
}
