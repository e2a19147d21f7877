using System.Diagnostics;
using Gateway.Grpc.Observability.Tests.Infrastructure;
using Gateway.Grpc.Observability.Tracing;
using Grpc.Core;
using Grpc.Net.Client;

namespace Gateway.Grpc.Observability.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NoTraceListenersCollection
{
    /// <summary>Runs alone: other test classes listen to the gateway's ActivitySource while they run.</summary>
    public const string Name = "no trace listeners";
}

/// <summary>With tracing off the gateway records no spans, yet the caller's trace still reaches the provider.</summary>
[Collection(NoTraceListenersCollection.Name)]
public sealed class TraceContextPassThroughTests
{
    [Fact]
    public async Task TracingOff_CallersTraceparent_StillPassedOnToTheProvider()
    {
        await using var upstream = await HttpRecorder.StartAsync();
        var provider = new ScriptedProvider { Upstream = upstream.Address };
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), provider);
        Assert.False(GatewayTracing.Source.HasListeners(), "this test needs tracing off, with nobody listening to the gateway's spans");
        var traceId = ActivityTraceId.CreateRandom();
        var traceparent = $"00-{traceId.ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";

        await gateway.CompleteAsync(TestGateway.Request("chat"), new CallOptions(headers: new Metadata { { "traceparent", traceparent }, { "tracestate", "vendor=abc" } }));
        await gateway.CompleteAsync(TestGateway.Request("chat"));

        Assert.Equal(2, upstream.Requests.Count);
        var traced = upstream.Requests.First();
        Assert.True(traced.Headers.TryGetValue("traceparent", out var sent), "the provider request carried no traceparent");
        Assert.True(ActivityContext.TryParse(sent, null, out var context));
        Assert.Equal(traceId, context.TraceId);
        Assert.True(traced.Headers.TryGetValue("tracestate", out var state));
        Assert.Equal("vendor=abc", state);
        // A caller without trace context gets none invented for it.
        Assert.False(upstream.Requests.Last().Headers.ContainsKey("traceparent"));
    }

    [Fact]
    public async Task TracingOff_NothingListensToTheGatewayAspNetCoreHttpClientOrGrpcClientSpans()
    {
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), new ScriptedProvider());

        await gateway.CompleteAsync(TestGateway.Request("chat"));

        // No TracerProvider, so the instrumentations are not subscribed: no request creates or
        // samples an activity for them (a probe source of the same name sees the same listeners).
        foreach (var name in new[] { GatewayTelemetryNames.ActivitySourceName, "Microsoft.AspNetCore", "System.Net.Http", "Grpc.Net.Client" })
        {
            using var probe = new ActivitySource(name);
            Assert.False(probe.HasListeners(), $"something listens to '{name}' with tracing off");
        }
    }
}
