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

/// <summary>The gateway with <c>grpcWeb.allowedOrigins</c> set: CORS for one browser origin.</summary>
public sealed class CorsGatewayFixture : GatewayFixture
{
    public const string AllowedOrigin = "https://app.example.com";

    protected override IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
    {
        ["grpcWeb:allowedOrigins:0"] = AllowedOrigin,
    };
}

/// <summary>gRPC-Web from a browser page on another origin: the preflight and the call's CORS headers.</summary>
public sealed class GrpcWebCorsTests(CorsGatewayFixture gateway) : IClassFixture<CorsGatewayFixture>
{
    [Fact]
    public async Task Preflight_AllowedOrigin_AllowsPostAndGrpcWebHeaders()
    {
        using var preflight = Preflight(CorsGatewayFixture.AllowedOrigin);
        using var response = await gateway.Http.SendAsync(preflight);
        Assert.True(response.IsSuccessStatusCode, response.StatusCode.ToString());
        Assert.Equal(CorsGatewayFixture.AllowedOrigin, response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        var allowedHeaders = string.Join(",", response.Headers.GetValues("Access-Control-Allow-Headers")).ToLowerInvariant();
        Assert.Contains("x-grpc-web", allowedHeaders, StringComparison.Ordinal);
        Assert.Contains("authorization", allowedHeaders, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Preflight_OtherOrigin_NoCorsGrant()
    {
        using var preflight = Preflight("https://evil.example.net");
        using var response = await gateway.Http.SendAsync(preflight);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task GrpcWebCall_FromAllowedOrigin_ExposesGrpcStatus()
    {
        // gRPC-Web unary ListModels: an empty request is the 5-byte frame 00 00000000.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/gateway.v1.Models/ListModels")
        {
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc-web+proto");
        request.Headers.Add("Origin", CorsGatewayFixture.AllowedOrigin);
        request.Headers.Add("x-grpc-web", "1");
        using var response = await gateway.Http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, response.StatusCode.ToString());
        Assert.StartsWith("application/grpc-web", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        Assert.Equal("0", response.TrailingHeaders.Contains("grpc-status") ? response.TrailingHeaders.GetValues("grpc-status").Single() : GrpcWebStatus(await response.Content.ReadAsByteArrayAsync()));
        Assert.Equal(CorsGatewayFixture.AllowedOrigin, response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        var exposed = string.Join(",", response.Headers.GetValues("Access-Control-Expose-Headers")).ToLowerInvariant();
        Assert.Contains("grpc-status", exposed, StringComparison.Ordinal);
        Assert.Contains("grpc-message", exposed, StringComparison.Ordinal);
    }

    /// <summary>grpc-status from a gRPC-Web body: the trailers frame (flag 0x80) holds "name: value" lines.</summary>
    private static string GrpcWebStatus(byte[] body)
    {
        var offset = 0;
        while (offset + 5 <= body.Length)
        {
            var length = (body[offset + 1] << 24) | (body[offset + 2] << 16) | (body[offset + 3] << 8) | body[offset + 4];
            if ((body[offset] & 0x80) != 0)
            {
                foreach (var line in System.Text.Encoding.ASCII.GetString(body, offset + 5, length).Split("\r\n"))
                {
                    if (line.StartsWith("grpc-status:", StringComparison.OrdinalIgnoreCase))
                    {
                        return line["grpc-status:".Length..].Trim();
                    }
                }
            }

            offset += 5 + length;
        }

        return "missing";
    }

    private static HttpRequestMessage Preflight(string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/gateway.v1.Completion/StreamComplete");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "content-type,x-grpc-web,authorization");
        return request;
    }
}
