using System.Net;
using System.Net.Http.Headers;
using Gateway.Grpc.Observability.Tests.Infrastructure;

namespace Gateway.Grpc.Observability.Tests;

/// <summary>Requests the gRPC layer answers before any handler runs are counted too.</summary>
public sealed class RejectedCallMetricsTests
{
    [Fact]
    public async Task UnknownMethod_MalformedAndOversizedMessages_WrongContentType_CountedByMethodAndStatus()
    {
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), new ScriptedProvider());
        using var http = new HttpClient { BaseAddress = gateway.GrpcAddress };

        // Unknown method, malformed frame (5 bytes declared, 2 sent), oversized frame (5 MiB declared).
        Assert.Equal("12", await GrpcStatusAsync(http, "/gateway.v1.Completion/Nope", [0, 0, 0, 0, 0]));
        Assert.Equal("13", await GrpcStatusAsync(http, "/gateway.v1.Completion/Complete", [0, 0, 0, 0, 5, 1, 2]));
        Assert.Equal("8", await GrpcStatusAsync(http, "/gateway.v1.Completion/Complete", [0, 0, 0x50, 0, 0, 1, 2, 3]));
        // A known method with a JSON content-type is a 415 before any handler.
        using (var json = new HttpRequestMessage(HttpMethod.Post, "/gateway.v1.Completion/StreamComplete") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Content = new StringContent("{}", new MediaTypeHeaderValue("application/json")) })
        using (var response = await http.SendAsync(json))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        }

        var samples = Exposition.Parse(await gateway.ScrapeAsync());
        Assert.Equal(1, samples.Value("gateway_requests_rejected_total", ("method", "unknown"), ("status", "UNIMPLEMENTED")));
        Assert.Equal(1, samples.Value("gateway_requests_rejected_total", ("method", "/gateway.v1.Completion/Complete"), ("status", "INTERNAL")));
        Assert.Equal(1, samples.Value("gateway_requests_rejected_total", ("method", "/gateway.v1.Completion/Complete"), ("status", "RESOURCE_EXHAUSTED")));
        Assert.Equal(1, samples.Value("gateway_requests_rejected_total", ("method", "/gateway.v1.Completion/StreamComplete"), ("status", "INTERNAL")));
        // None of them reached the handlers, so none is a completed call.
        Assert.Empty(samples.Family("gateway_requests_total"));
        Assert.Empty(samples.Family("gen_ai_server_request_duration_seconds_count"));
    }

    private static async Task<string?> GrpcStatusAsync(HttpClient http, string path, byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Content = content };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        using var response = await http.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        return response.TrailingHeaders.TryGetValues("grpc-status", out var trailer) ? trailer.Single()
            : response.Headers.TryGetValues("grpc-status", out var header) ? header.Single() : null;
    }
}
