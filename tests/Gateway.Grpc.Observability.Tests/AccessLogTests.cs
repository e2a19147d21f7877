using System.Diagnostics;
using System.Text.Json;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Observability.AccessLog;
using Gateway.Grpc.Observability.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Grpc.Observability.Tests;

public sealed class AccessLogTests : IDisposable
{
    private const string Prompt = "my private prompt 8c1f";
    private const string Answer = "forty-two";

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("gateway-accesslog-");

    private string LogPath => Path.Combine(_directory.FullName, "access.jsonl");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task EachCall_OneJsonLine_WithRoutingTokensLatency_NoBodiesByDefault()
    {
        var provider = new ScriptedProvider();
        await using var gateway = await StartAsync(includeBodies: false, provider: provider);
        var traceId = ActivityTraceId.CreateRandom();
        var traceparent = $"00-{traceId.ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";

        var unary = await gateway.CompleteAsync(TestGateway.Request("chat", Prompt), new CallOptions(headers: new Metadata { { "traceparent", traceparent } }));
        var (events, _) = await gateway.StreamAsync(TestGateway.Request("chat", Prompt));
        var lines = await ReadLinesAsync(gateway);

        Assert.Equal(2, lines.Count);
        var raw = await File.ReadAllTextAsync(LogPath);
        Assert.DoesNotContain(Prompt, raw, StringComparison.Ordinal);
        Assert.DoesNotContain(Answer, raw, StringComparison.Ordinal);

        var first = lines[0];
        Assert.Equal(unary.Id, first.GetProperty("request_id").GetString());
        Assert.Equal("grpc", first.GetProperty("route").GetString());
        Assert.Equal("Complete", first.GetProperty("method").GetString());
        Assert.False(first.GetProperty("stream").GetBoolean());
        Assert.Equal("chat", first.GetProperty("model").GetString());
        Assert.Equal("chat-2025", first.GetProperty("response_model").GetString());
        Assert.Equal("fake", first.GetProperty("provider").GetString());
        Assert.Equal("chat-1", first.GetProperty("deployment").GetString());
        Assert.Equal("OK", first.GetProperty("status").GetString());
        Assert.Equal("stop", first.GetProperty("finish_reason").GetString());
        Assert.Equal(11, first.GetProperty("input_tokens").GetInt32());
        Assert.Equal(7, first.GetProperty("output_tokens").GetInt32());
        Assert.Equal((11 * 1 + 7 * 2) / 1e6, first.GetProperty("cost_usd").GetDouble(), 12);
        Assert.True(first.GetProperty("latency_ms").GetDouble() > 0);
        Assert.False(first.TryGetProperty("ttft_ms", out _));
        Assert.Equal(1, first.GetProperty("attempts").GetInt32());
        Assert.Equal("1:chat-1:success", first.GetProperty("attempt_trail").GetString());
        Assert.Equal(traceId.ToHexString(), first.GetProperty("trace_id").GetString());
        Assert.False(first.TryGetProperty("prompt", out _));
        Assert.False(first.TryGetProperty("key_id", out _));

        var second = lines[1];
        Assert.Equal(events[0].Start.Id, second.GetProperty("request_id").GetString());
        Assert.True(second.GetProperty("stream").GetBoolean());
        Assert.Equal("StreamComplete", second.GetProperty("method").GetString());
        Assert.Equal(4, second.GetProperty("output_tokens").GetInt32());
        Assert.True(second.GetProperty("ttft_ms").GetDouble() > 0);
        Assert.True(second.GetProperty("ttft_ms").GetDouble() <= second.GetProperty("latency_ms").GetDouble());
    }

    [Fact]
    public async Task IncludeBodies_PromptAndCompletionInTheLine()
    {
        await using var gateway = await StartAsync(includeBodies: true, provider: new ScriptedProvider());

        await gateway.CompleteAsync(TestGateway.Request("chat", Prompt));
        await gateway.StreamAsync(TestGateway.Request("chat", Prompt));
        var lines = await ReadLinesAsync(gateway);

        Assert.All(lines, line =>
        {
            Assert.Contains(Prompt, line.GetProperty("prompt").GetString(), StringComparison.Ordinal);
            Assert.Equal("The answer is forty-two.", line.GetProperty("completion").GetString());
        });
    }

    [Fact]
    public async Task BodyCapture_IsDecidedPerCall_ByThePolicy()
    {
        var policy = new RecordingPolicy(c => c.Model == "open" ? BodyCapture.AccessLog : BodyCapture.None);
        await using var gateway = await StartAsync(includeBodies: false, provider: new ScriptedProvider(), policy: policy, models: [("chat", ["chat-1"], null), ("open", ["open-1"], null)]);

        await gateway.CompleteAsync(TestGateway.Request("chat", Prompt));
        await gateway.StreamAsync(TestGateway.Request("open", Prompt));
        var lines = await ReadLinesAsync(gateway);

        Assert.False(lines.Single(l => l.GetProperty("model").GetString() == "chat").TryGetProperty("prompt", out _));
        Assert.Contains(Prompt, lines.Single(l => l.GetProperty("model").GetString() == "open").GetProperty("prompt").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, policy.Seen.Count);
        Assert.All(policy.Seen, c => Assert.Equal("grpc", c.Route));
    }

    [Fact]
    public async Task FailedCall_LineHasStatusErrorKindAndEveryAttempt()
    {
        var provider = new ScriptedProvider();
        provider.Script("chat-1", ProviderErrorKind.ServerError);
        await using var gateway = await StartAsync(includeBodies: false, provider: provider);

        var error = await Assert.ThrowsAsync<RpcException>(() => gateway.CompleteAsync(TestGateway.Request("chat")));
        var line = Assert.Single(await ReadLinesAsync(gateway));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal("UNAVAILABLE", line.GetProperty("status").GetString());
        Assert.Equal("server_error", line.GetProperty("error_kind").GetString());
        Assert.Equal(3, line.GetProperty("attempts").GetInt32());
        Assert.Equal("1:chat-1:failed:server_error,2:chat-1:failed:server_error,3:chat-1:failed:server_error", line.GetProperty("attempt_trail").GetString());
        Assert.Equal(0, line.GetProperty("output_tokens").GetInt32());
        Assert.False(string.IsNullOrEmpty(line.GetProperty("request_id").GetString()));
    }

    [Fact]
    public async Task CallerIdentity_KeyIdAndTeam_ReachTheLineAndThePolicy()
    {
        var policy = new RecordingPolicy(_ => BodyCapture.None);
        await using var gateway = await StartAsync(includeBodies: false, provider: new ScriptedProvider(), policy: policy);
        var telemetry = gateway.Service<CompletionTelemetry>();
        var request = TestGateway.Request("chat", Prompt);

        // What authentication will do once it exists: report the caller on the call's telemetry.
        var call = telemetry.StartCall(CompletionTelemetry.RestRoute, "chat.completions", stream: false, request, traceparent: null, tracestate: null);
        call.SetCaller("payments", "key_7f3a");
        call.MarkCacheHit();
        call.RequestId = "req-1";
        call.OnResponse(new CompletionResponse { Id = "req-1", Model = "chat-2025", Provider = "fake", Usage = new Usage { InputTokens = 3, OutputTokens = 2 }, Routing = new RoutingInfo { Deployment = "chat-1", Provider = "fake" } });
        call.Complete(StatusCode.OK);
        var line = Assert.Single(await ReadLinesAsync(gateway));

        Assert.Equal("key_7f3a", line.GetProperty("key_id").GetString());
        Assert.Equal("payments", line.GetProperty("team").GetString());
        Assert.Equal("rest", line.GetProperty("route").GetString());
        Assert.True(line.GetProperty("cache_hit").GetBoolean());
        var seen = Assert.Single(policy.Seen);
        Assert.Equal(("payments", "key_7f3a"), (seen.Team, seen.KeyId));
    }

    [Fact]
    public async Task Writer_SinkStalls_LinesDroppedAndCounted_CallsNotBlocked()
    {
        var stalled = new StallingStream();
        var writer = new AccessLogWriter(stalled, ownsOutput: true, capacity: 1, metrics: null, NullLogger.Instance);

        writer.Write(new AccessLogEntry { RequestId = "1" });
        await stalled.WriteEntered;
        writer.Write(new AccessLogEntry { RequestId = "2" });
        writer.Write(new AccessLogEntry { RequestId = "3" });
        writer.Write(new AccessLogEntry { RequestId = "4" });

        Assert.Equal(2, writer.Dropped);
        stalled.Release();
        await writer.DisposeAsync();
        var written = stalled.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["1", "2"], written.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("request_id").GetString()));
    }

    private async Task<TestGateway> StartAsync(bool includeBodies, ScriptedProvider provider, IBodyCapturePolicy? policy = null, (string, string[], string[]?)[]? models = null)
    {
        var config = TestModels.Config(models ?? [("chat", ["chat-1"], null)]);
        config["accessLog:enabled"] = "true";
        config["accessLog:path"] = LogPath;
        config["accessLog:includeBodies"] = includeBodies ? "true" : "false";
        return await TestGateway.StartAsync(config, policy is null ? null : services => services.AddSingleton(policy), provider);
    }

    private async Task<List<JsonElement>> ReadLinesAsync(TestGateway gateway)
    {
        await gateway.Service<IAccessLog>().FlushAsync();
        var lines = new List<JsonElement>();
        foreach (var line in await File.ReadAllLinesAsync(LogPath))
        {
            lines.Add(JsonDocument.Parse(line).RootElement.Clone());
        }

        return lines;
    }

    private sealed class RecordingPolicy(Func<BodyCaptureContext, BodyCapture> decide) : IBodyCapturePolicy
    {
        public List<BodyCaptureContext> Seen { get; } = [];

        public BodyCapture Decide(in BodyCaptureContext context)
        {
            lock (Seen)
            {
                Seen.Add(context);
            }

            return decide(context);
        }
    }

    /// <summary>A sink whose first write blocks until released.</summary>
    private sealed class StallingStream : MemoryStream
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task WriteEntered => _entered.Task;

        public string Text => System.Text.Encoding.UTF8.GetString(ToArray());

        public void Release() => _release.TrySetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _entered.TrySetResult();
            await _release.Task;
            await base.WriteAsync(buffer, cancellationToken);
        }
    }
}
