using System.Diagnostics;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Observability.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;

namespace Gateway.Grpc.Observability.Tests;

public sealed class TracingTests : IDisposable
{
    private readonly SpanCollector _spans = new();

    public void Dispose() => _spans.Dispose();

    [Fact]
    public async Task Unary_WithTraceparent_ContinuesTrace_AttemptSpanIsChildWithGenAiAttributes()
    {
        var provider = new ScriptedProvider();
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), provider);
        var (traceId, callerSpan, traceparent) = NewTraceparent();

        var response = await gateway.CompleteAsync(TestGateway.Request("chat"), new CallOptions(headers: new Metadata { { "traceparent", traceparent } }));

        var spans = _spans.InTrace(traceId);
        var call = Assert.Single(spans, s => s.Kind == ActivityKind.Server);
        Assert.Equal(callerSpan, call.ParentSpanId);
        Assert.Equal("chat chat", call.DisplayName);
        Assert.Equal("chat", call.Tag("gen_ai.operation.name"));
        Assert.Equal("chat", call.Tag("gen_ai.request.model"));
        Assert.Equal("chat-2025", call.Tag("gen_ai.response.model"));
        Assert.Equal("fake", call.Tag("gen_ai.provider.name"));
        Assert.Equal(11, call.Tag("gen_ai.usage.input_tokens"));
        Assert.Equal(7, call.Tag("gen_ai.usage.output_tokens"));
        Assert.Equal(new[] { "stop" }, call.Tag("gen_ai.response.finish_reasons"));
        Assert.Equal(response.Id, call.Tag("gen_ai.response.id"));
        Assert.Equal("chat-1", call.Tag("gateway.deployment"));
        Assert.Equal(1, call.Tag("gateway.attempts"));
        Assert.Equal(false, call.Tag("gateway.hedged"));
        Assert.Equal(false, call.Tag("gateway.fallback"));
        Assert.Equal(false, call.Tag("gateway.cache_hit"));
        Assert.Equal((11 * 1 + 7 * 2) / 1e6, (double)call.Tag("gateway.cost_usd")!, 12);
        Assert.Equal("grpc", call.Tag("gateway.route"));
        Assert.Equal(0, call.Tag("rpc.grpc.status_code"));
        Assert.Equal(ActivityStatusCode.Unset, call.Status);

        var attempt = Assert.Single(spans, s => s.Kind == ActivityKind.Client);
        Assert.Equal(call.SpanId, attempt.ParentSpanId);
        Assert.Equal("chat", attempt.Tag("gen_ai.request.model"));
        Assert.Equal("fake", attempt.Tag("gen_ai.provider.name"));
        Assert.Equal("chat-1", attempt.Tag("gateway.deployment"));
        Assert.Equal(1, attempt.Tag("gateway.attempt.number"));
        Assert.Equal(false, attempt.Tag("gateway.hedged"));
        Assert.Equal(false, attempt.Tag("gateway.fallback"));
        Assert.Equal("success", attempt.Tag("gateway.attempt.outcome"));
    }

    [Fact]
    public async Task RetriesThenFallback_EachAttemptASpan_FailedOnesMarkedWithErrorType()
    {
        var provider = new ScriptedProvider();
        provider.Script("primary-1", ProviderErrorKind.ServerError);
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("primary", ["primary-1"], ["backup"]), ("backup", ["backup-1"], null)), provider);
        var (traceId, _, traceparent) = NewTraceparent();

        await gateway.CompleteAsync(TestGateway.Request("primary"), new CallOptions(headers: new Metadata { { "traceparent", traceparent } }));

        var spans = _spans.InTrace(traceId);
        var call = Assert.Single(spans, s => s.Kind == ActivityKind.Server);
        var attempts = spans.Where(s => s.Kind == ActivityKind.Client).OrderBy(s => (int)s.Tag("gateway.attempt.number")!).ToArray();
        Assert.Equal(4, attempts.Length);
        Assert.All(attempts, a => Assert.Equal(call.SpanId, a.ParentSpanId));
        Assert.All(attempts[..3], a =>
        {
            Assert.Equal("primary-1", a.Tag("gateway.deployment"));
            Assert.Equal(ActivityStatusCode.Error, a.Status);
            Assert.Equal("server_error", a.Tag("error.type"));
            Assert.Equal(false, a.Tag("gateway.fallback"));
        });
        Assert.Equal("backup-1", attempts[3].Tag("gateway.deployment"));
        Assert.Equal(true, attempts[3].Tag("gateway.fallback"));
        Assert.Equal(ActivityStatusCode.Unset, attempts[3].Status);
        Assert.Equal(true, call.Tag("gateway.fallback"));
        Assert.Equal(4, call.Tag("gateway.attempts"));
        Assert.Contains(call.Events, e => e.Name == "gateway.fallback");
    }

    [Fact]
    public async Task Stream_AttemptSpanLastsUntilStreamEnds_FirstTokenEventsRecorded()
    {
        var provider = new ScriptedProvider();
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), provider);
        var (traceId, callerSpan, traceparent) = NewTraceparent();

        var (events, status) = await gateway.StreamAsync(TestGateway.Request("chat"), new CallOptions(headers: new Metadata { { "traceparent", traceparent } }));

        Assert.Equal(StatusCode.OK, status.StatusCode);
        var spans = _spans.InTrace(traceId);
        var call = Assert.Single(spans, s => s.Kind == ActivityKind.Server);
        var attempt = Assert.Single(spans, s => s.Kind == ActivityKind.Client);
        Assert.Equal(callerSpan, call.ParentSpanId);
        Assert.Equal(call.SpanId, attempt.ParentSpanId);
        Assert.Equal(true, call.Tag("gateway.stream"));
        Assert.Equal(4, call.Tag("gen_ai.usage.output_tokens"));
        Assert.IsType<double>(call.Tag("gateway.ttft_ms"));
        Assert.Contains(call.Events, e => e.Name == "gateway.first_token");
        Assert.Contains(attempt.Events, e => e.Name == "gateway.first_token");
        Assert.Equal("success", attempt.Tag("gateway.attempt.outcome"));
        // The attempt ended with the stream, after the gateway had relayed the whole answer.
        Assert.True(attempt.StartTimeUtc + attempt.Duration <= call.StartTimeUtc + call.Duration);
        Assert.True(attempt.Events.Single(e => e.Name == "gateway.first_token").Timestamp <= attempt.StartTimeUtc + attempt.Duration);
    }

    [Fact]
    public async Task Hedge_SlowFirstAttemptCancelled_HedgeWins_CountedAndTraced()
    {
        var provider = new ScriptedProvider();
        provider.Delays["slow-1"] = TimeSpan.FromSeconds(30);
        var config = TestModels.Config(("hedged", ["slow-1", "fast-1"], null));
        config["models:0:hedging:enabled"] = "true";
        config["models:0:hedging:delayMs"] = "20";
        await using var gateway = await TestGateway.StartAsync(config, provider);
        var (traceId, _, traceparent) = NewTraceparent();

        var response = await gateway.CompleteAsync(TestGateway.Request("hedged"), new CallOptions(headers: new Metadata { { "traceparent", traceparent } }));
        var samples = Exposition.Parse(await gateway.ScrapeAsync());

        Assert.Equal("fast-1", response.Routing.Deployment);
        Assert.Equal(1, samples.Value("gateway_hedges_total", ("deployment", "fast-1"), ("model", "hedged")));
        Assert.Equal(1, samples.Value("gateway_attempts_total", ("deployment", "slow-1"), ("outcome", "cancelled"), ("provider", "fake")));
        Assert.Equal(1, samples.Value("gateway_attempts_total", ("deployment", "fast-1"), ("outcome", "success"), ("provider", "fake")));
        Assert.Equal(1, samples.Value("gen_ai_client_operation_duration_seconds_count", ("error_type", "cancelled"), ("gen_ai_operation_name", "chat"), ("gen_ai_provider_name", "fake"), ("gen_ai_request_model", "hedged")));
        var spans = _spans.InTrace(traceId);
        var call = Assert.Single(spans, s => s.Kind == ActivityKind.Server);
        Assert.Equal(true, call.Tag("gateway.hedged"));
        var slow = Assert.Single(spans, s => s.Kind == ActivityKind.Client && (string?)s.Tag("gateway.deployment") == "slow-1");
        var fast = Assert.Single(spans, s => s.Kind == ActivityKind.Client && (string?)s.Tag("gateway.deployment") == "fast-1");
        Assert.Equal("cancelled", slow.Tag("gateway.attempt.outcome"));
        Assert.Equal(false, slow.Tag("gateway.hedged"));
        Assert.Equal(true, fast.Tag("gateway.hedged"));
        Assert.Equal("success", fast.Tag("gateway.attempt.outcome"));
    }

    [Fact]
    public async Task FailedCall_CallSpanHasErrorStatusAndType()
    {
        var provider = new ScriptedProvider();
        provider.Script("chat-1", ProviderErrorKind.ContentFiltered);
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), provider);
        var (traceId, _, traceparent) = NewTraceparent();

        await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(TestGateway.Request("chat"), new CallOptions(headers: new Metadata { { "traceparent", traceparent } })));

        var call = Assert.Single(_spans.InTrace(traceId), s => s.Kind == ActivityKind.Server);
        Assert.Equal(ActivityStatusCode.Error, call.Status);
        Assert.Equal("content_filtered", call.Tag("error.type"));
        Assert.Equal((int)StatusCode.InvalidArgument, call.Tag("rpc.grpc.status_code"));
    }

    [Fact]
    public async Task NoOrInvalidTraceparent_CallSpanStartsANewTrace()
    {
        var provider = new ScriptedProvider();
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), provider);
        var invalid = "00-00000000000000000000000000000000-0000000000000000-01";

        var plain = await gateway.CompleteAsync(TestGateway.Request("chat"));
        var bad = await gateway.CompleteAsync(TestGateway.Request("chat"), new CallOptions(headers: new Metadata { { "traceparent", invalid } }));

        foreach (var id in new[] { plain.Id, bad.Id })
        {
            var call = Assert.Single(_spans.InTraceOfResponse(id));
            Assert.Equal(default, call.ParentSpanId);
            Assert.NotEqual(default, call.TraceId);
        }
    }

    [Fact]
    public async Task Traceparent_PassedOnToTheProvidersHttpRequest_FromTheAttemptSpan()
    {
        using var httpSpans = new SpanCollector(alsoHttpClient: true);
        await using var upstream = await HttpRecorder.StartAsync();
        var provider = new ScriptedProvider { Upstream = upstream.Address };
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), provider);
        var (traceId, _, traceparent) = NewTraceparent();

        await gateway.CompleteAsync(TestGateway.Request("chat"), new CallOptions(headers: new Metadata { { "traceparent", traceparent } }));

        var attempt = Assert.Single(_spans.InTrace(traceId), s => s.Kind == ActivityKind.Client);
        var request = Assert.Single(upstream.Requests);
        Assert.True(request.Headers.TryGetValue("traceparent", out var sent), "the provider request carried no traceparent");
        Assert.True(ActivityContext.TryParse(sent, null, out var context));
        Assert.Equal(traceId, context.TraceId);
        // HttpClient sends its own client span's id; that span is the attempt span's child.
        var outgoing = Assert.Single(httpSpans.InTrace(traceId), s => s.SpanId == context.SpanId);
        Assert.Equal(attempt.SpanId, outgoing.ParentSpanId);
    }

    [Theory]
    [InlineData("http/protobuf", "/v1/traces", "application/x-protobuf")]
    [InlineData("grpc", "/opentelemetry.proto.collector.trace.v1.TraceService/Export", "application/grpc")]
    public async Task TracingEnabled_ExportsSpansByOtlp(string protocol, string path, string contentType)
    {
        await using var collector = await HttpRecorder.StartAsync(grpc: protocol == "grpc");
        var config = TestModels.Config(("chat", ["chat-1"], null));
        config["telemetry:tracing:enabled"] = "true";
        config["telemetry:otlpEndpoint"] = collector.Address.ToString();
        config["telemetry:otlpProtocol"] = protocol;
        config["telemetry:serviceName"] = "gateway-under-test";
        var gateway = await TestGateway.StartAsync(config, new ScriptedProvider());
        var (traceId, callerSpan, _) = NewTraceparent();
        try
        {
            // This client shares the process with the gateway, whose HttpClient instrumentation
            // therefore traces the client's request too and sends its own traceparent: the caller
            // is an instrumented one here, its trace the current activity that HttpClient continues.
            using var caller = new Activity("test.caller");
            caller.SetParentId(traceId, callerSpan, ActivityTraceFlags.Recorded);
            caller.Start();
            await gateway.CompleteAsync(TestGateway.Request("chat"));
            caller.Stop();
        }
        finally
        {
            // Shutdown flushes the batch exporter.
            await gateway.DisposeAsync();
        }

        var exports = collector.Requests.Where(r => r.Path == path).ToArray();
        Assert.True(exports.Length > 0, $"nothing exported to {path}; saw: {string.Join(", ", collector.Requests.Select(r => r.Path))}");
        var traceBytes = new byte[16];
        traceId.CopyTo(traceBytes);
        var ours = exports.Where(e => e.Body.AsSpan().IndexOf(traceBytes) >= 0).ToArray();
        Assert.NotEmpty(ours);
        var body = ours.SelectMany(e => e.Body).ToArray();
        Assert.StartsWith(contentType, ours[0].Headers["Content-Type"], StringComparison.Ordinal);
        // The gateway's spans, and ASP.NET Core's server span of the same request (its instrumentation).
        foreach (var expected in new[] { "gateway-under-test", "gen_ai.request.model", "gen_ai.usage.output_tokens", "gateway.attempt.number", "chat-1", "Microsoft.AspNetCore", "http.request.method", "/gateway.v1.Completion/Complete" })
        {
            Assert.True(body.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(expected)) >= 0, $"'{expected}' not in the exported spans");
        }
    }

    private static (ActivityTraceId TraceId, ActivitySpanId SpanId, string Traceparent) NewTraceparent()
    {
        var traceId = ActivityTraceId.CreateRandom();
        var spanId = ActivitySpanId.CreateRandom();
        return (traceId, spanId, $"00-{traceId.ToHexString()}-{spanId.ToHexString()}-01");
    }
}
