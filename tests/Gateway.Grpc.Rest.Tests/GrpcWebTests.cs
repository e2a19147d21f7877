using System.Text.Json;
using Gateway.Grpc.Rest.Tests.Infrastructure;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>
/// gateway.v1.Completion over gRPC-Web from Node with Connect's fetch-based gRPC-Web transport
/// (@connectrpc/connect-web, pinned in tests/grpc-web), against the gateway's HTTP/1.1 port:
/// tokens stream as typed events, unary works, and a gateway error keeps its status.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class GrpcWebTests(GatewayFixture gateway)
{
    [Fact]
    public async Task ConnectWebTransport_StreamsTokens_UnaryAndErrorsKeepTheirStatus()
    {
        var node = ExternalProcess.RequireTool("node", "install Node.js 20 or newer");
        ExternalProcess.RequireNodeModules("tests/grpc-web", "@connectrpc/connect-web");
        var buf = Path.Combine(ExternalProcess.RepoRoot, "tests", "interop", "node_modules", ".bin", "buf");
        Assert.True(File.Exists(buf), "buf is missing: run `npm ci` in tests/interop (scripts/test-deps.sh does).");

        var descriptors = Path.Combine(Path.GetTempPath(), $"gateway-{Guid.NewGuid():N}.binpb");
        try
        {
            var build = await ExternalProcess.RunAsync(buf, ["build", "protos", "-o", descriptors], ExternalProcess.RepoRoot, TimeSpan.FromSeconds(60));
            Assert.True(build.ExitCode == 0, build.Describe());

            var result = await ExternalProcess.RunAsync(
                node,
                ["grpc-web-client.mjs", "--base-url", gateway.HttpBase.ToString().TrimEnd('/'), "--descriptors", descriptors],
                Path.Combine(ExternalProcess.RepoRoot, "tests", "grpc-web"),
                TimeSpan.FromSeconds(60));
            Assert.True(result.ExitCode == 0, result.Describe());

            var cases = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(l => l.StartsWith('{'))
                .Select(l => JsonDocument.Parse(l).RootElement)
                .ToDictionary(e => e.GetProperty("case").GetString()!, e => e);
            var events = cases["stream"].GetProperty("events").EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.Equal("start", events[0]);
            Assert.Equal("finish", events[^1]);
            Assert.True(events.Count(e => e == "delta") >= 1, string.Join(",", events));
            Assert.True(cases["unary"].GetProperty("ok").GetBoolean());
            Assert.Equal("NotFound", cases["unknown_model"].GetProperty("code").GetString());
        }
        finally
        {
            File.Delete(descriptors);
        }
    }
}
