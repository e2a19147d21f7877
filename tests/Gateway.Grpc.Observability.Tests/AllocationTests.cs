using System.Diagnostics.Metrics;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Observability.Metrics.Prometheus;
using Gateway.Grpc.Observability.Tests.Infrastructure;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Observability.Tests;

/// <summary>The per-call and per-token instrumentation allocates nothing once its series exist.</summary>
public sealed class AllocationTests
{
    [Fact]
    public void RecordingIntoExistingSeries_WithTheExporterListening_AllocatesNothing()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var metrics = new GatewayMetrics(factory);
        using var collector = new PrometheusCollector(i => ReferenceEquals(i.Meter.Scope, factory));
        var duration = TimeSpan.FromMilliseconds(120);
        void RecordCall()
        {
            metrics.RecordRequest("grpc", "chat", "openai", "OK", stream: true, duration);
            metrics.RecordTimeToFirstToken("grpc", "chat", "openai", duration);
            metrics.RecordAttempt("openai-eu-1", "openai", "success", null, duration);
            metrics.RecordTokens("chat", "openai", "payments", 100, 20);
            metrics.RecordCost("chat", "openai", "payments", 0.001);
            metrics.StreamStarted("chat");
            metrics.StreamEnded("chat");
        }

        RecordCall();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            RecordCall();
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Contains("gateway_requests_total{model=\"chat\",provider=\"openai\",route=\"grpc\",status=\"OK\",stream=\"true\"} 1001\n", collector.Collect(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamEvents_ThroughCallTelemetry_AllocateNothingPerToken()
    {
        await using var gateway = await TestGateway.StartAsync(Models.Config(("chat", ["chat-1"], null)), new ScriptedProvider());
        var call = gateway.Service<CompletionTelemetry>().StartCall(CompletionTelemetry.GrpcRoute, "StreamComplete", stream: true, TestGateway.Request("chat"), null, null);
        call.OnChunk(new CompletionChunk { Start = new StreamStart { Id = "x", Model = "m", Provider = "fake", Deployment = "chat-1" } });
        var delta = new CompletionChunk { Delta = new TextDelta { Text = "token " } };
        call.OnChunk(delta);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            call.OnChunk(delta);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        call.Complete(Protocol.StatusCode.OK);

        Assert.Equal(0, allocated);
    }
}
