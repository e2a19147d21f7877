using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Grpc.Observability.Audit;
using Gateway.Grpc.Observability.Tests.Infrastructure;
using Gateway.Grpc.Server.Hosting;

namespace Gateway.Grpc.Observability.Tests;

/// <summary>The audit trail inside the gateway: configured by audit:path, request bodies opt-in.</summary>
public sealed class AuditWiringTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("gateway-audit-wiring-");

    private string TrailPath => Path.Combine(_directory.FullName, "audit.jsonl");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task RequestBodies_OptedIn_EachCallAppendsItsRequest_ChainVerifies()
    {
        var config = TestModels.Config(("chat", ["chat-1"], null));
        config["audit:path"] = TrailPath;
        config["audit:requestBodies"] = "true";
        await using (var gateway = await TestGateway.StartAsync(config, new ScriptedProvider()))
        {
            var response = await gateway.CompleteAsync(TestGateway.Request("chat", "audit me 51d2"));
            // Appends are serialized: once this marker is written, the call's entry is too.
            await gateway.Service<IAuditTrail>().AppendAsync("test.marker", "test", new JsonObject { ["after"] = response.Id });
        }

        var lines = await File.ReadAllLinesAsync(TrailPath);
        Assert.Equal(2, lines.Length);
        var body = JsonDocument.Parse(lines[0]).RootElement;
        Assert.Equal("request.body", body.GetProperty("action").GetString());
        Assert.Equal("anonymous", body.GetProperty("actor").GetString());
        var details = body.GetProperty("details");
        Assert.Equal("chat", details.GetProperty("model").GetString());
        Assert.Equal("OK", details.GetProperty("status").GetString());
        Assert.Equal("audit me 51d2", details.GetProperty("request").GetProperty("messages")[0].GetProperty("content").GetString());
        Assert.Equal("The answer is forty-two.", details.GetProperty("completion").GetString());
        Assert.True((await AuditVerifier.VerifyFileAsync(TrailPath)).Ok);
    }

    [Fact]
    public async Task HmacKey_EntriesKeyed_HeadPublishedAsGauge()
    {
        var variable = "GW_AUDIT_HMAC_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, "wiring-test-audit-key");
        try
        {
            var config = TestModels.Config(("chat", ["chat-1"], null));
            config["audit:path"] = TrailPath;
            config["audit:hmacKey"] = "env:" + variable;
            await using (var gateway = await TestGateway.StartAsync(config, new ScriptedProvider()))
            {
                var trail = gateway.Service<IAuditTrail>();
                await trail.AppendAsync("test.one", "test", null);
                await trail.AppendAsync("test.two", "test", null);
                var scrape = await gateway.ScrapeAsync();
                Assert.True(Exposition.Parse(scrape).Value("gateway_audit_head_sequence") == 2, scrape);
            }

            Assert.All(await File.ReadAllLinesAsync(TrailPath), line => Assert.Contains("hmac-sha256:", line, StringComparison.Ordinal));
            Assert.True((await AuditVerifier.VerifyFileAsync(TrailPath, default, System.Text.Encoding.UTF8.GetBytes("wiring-test-audit-key"))).Ok);
            Assert.False((await AuditVerifier.VerifyFileAsync(TrailPath)).Ok);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task HmacKey_Unresolvable_FailsStartUpNamingTheKey()
    {
        var config = new Dictionary<string, string?> { ["audit:path"] = TrailPath, ["audit:hmacKey"] = "env:GW_AUDIT_KEY_NOT_SET_" + Guid.NewGuid().ToString("N") };

        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(() => TestGateway.StartAsync(config));

        Assert.Contains("audit:hmacKey", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestBodies_NotOptedIn_NothingAppended()
    {
        var config = TestModels.Config(("chat", ["chat-1"], null));
        config["audit:path"] = TrailPath;
        await using (var gateway = await TestGateway.StartAsync(config, new ScriptedProvider()))
        {
            await gateway.CompleteAsync(TestGateway.Request("chat"));
            await gateway.Service<IAuditTrail>().AppendAsync("test.marker", "test", null);
        }

        var line = Assert.Single(await File.ReadAllLinesAsync(TrailPath));
        Assert.Contains("test.marker", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartUp_OnATamperedTrail_Refused()
    {
        using (var trail = new AuditTrail(new JsonLinesAuditStore(TrailPath), TimeProvider.System))
        {
            await trail.AppendAsync("key.create", "admin:alice", null);
        }

        await File.WriteAllTextAsync(TrailPath, (await File.ReadAllTextAsync(TrailPath)).Replace("alice", "mallory", StringComparison.Ordinal));
        var config = new Dictionary<string, string?> { ["audit:path"] = TrailPath };

        var error = await Assert.ThrowsAsync<AuditTrailException>(() => TestGateway.StartAsync(config));

        Assert.Contains("audit verify", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("telemetry:tracing:enabled", "true", "telemetry:otlpEndpoint: is required")]
    [InlineData("telemetry:otlpEndpoint", "not a url", "telemetry:otlpEndpoint: 'not a url' is not an http(s) URL")]
    [InlineData("telemetry:otlpProtocol", "thrift", "telemetry:otlpProtocol: 'thrift' is not a protocol")]
    [InlineData("telemetry:tracing:samplingRatio", "1.5", "telemetry:tracing:samplingRatio: must be between 0 and 1")]
    [InlineData("telemetry:metrics:path", "metrics", "telemetry:metrics:path: 'metrics' must start with '/'")]
    [InlineData("audit:path", "/no/such/dir/audit.jsonl", "audit:path: the directory of '/no/such/dir/audit.jsonl' does not exist")]
    [InlineData("audit:requestBodies", "true", "audit:requestBodies: needs audit:path")]
    [InlineData("telemetry:tracing:sampling", "1", "'sampling'")]
    [InlineData("accessLog:format", "text", "'format'")]
    public async Task BadObservabilityConfig_FailsStartUp_NamingTheKey(string key, string value, string message)
    {
        var error = await Assert.ThrowsAsync<GatewayConfigurationException>(() => TestGateway.StartAsync(new Dictionary<string, string?> { [key] = value }));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
