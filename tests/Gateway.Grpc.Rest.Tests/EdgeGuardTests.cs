using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Gateway.Grpc.Rest.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>
/// The gateway with one extra piece of middleware at the end of its pipeline that throws for
/// <c>/test/crash</c>: an exception that escapes every endpoint, as a bug would.
/// </summary>
public sealed class CrashingGatewayFixture : GatewayFixture
{
    public const string Secret = "secret-exception-text-that-must-not-leak";

    protected override Action<IServiceCollection>? ConfigureServices => static services => services.AddSingleton<IStartupFilter, CrashFilter>();

    private sealed class CrashFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            next(app);
            app.Use(static (HttpContext context, RequestDelegate _) => context.Request.Path.StartsWithSegments("/test/crash")
                ? throw new InvalidOperationException(Secret)
                : Task.CompletedTask);
        };
    }
}

[CollectionDefinition(Name)]
public sealed class CrashingGatewayCollection : ICollectionFixture<CrashingGatewayFixture>
{
    public const string Name = "crashing-gateway";
}

/// <summary>An exception that escapes the endpoints is a logged 500 with an OpenAI-shaped body and the request id; never an empty body.</summary>
[Collection(CrashingGatewayCollection.Name)]
public sealed class EdgeGuardTests(CrashingGatewayFixture gateway)
{
    [Fact]
    public async Task EscapedException_500InOpenAiShapeWithRequestId_NoExceptionText()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/test/crash") { Content = new StringContent("{}") };
        request.Headers.Add("x-request-id", "crash-test-1");
        using var response = await gateway.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("crash-test-1", response.Headers.GetValues("x-request-id").Single());
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.Equal("internal_error", error.GetProperty("code").GetString());
        Assert.Contains("crash-test-1", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(CrashingGatewayFixture.Secret, body, StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidOperationException", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EscapedException_OnAGrpcContentType_TrailersOnlyInternal()
    {
        // Three segments: grpc-dotnet answers UNIMPLEMENTED itself for any /service/method path.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/test/crash/grpc") { Content = new ByteArrayContent([0, 0, 0, 0, 0]) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc-web");
        using var response = await gateway.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("13", response.Headers.GetValues("grpc-status").Single());
        var message = Uri.UnescapeDataString(response.Headers.GetValues("grpc-message").Single());
        Assert.Contains(response.Headers.GetValues("x-request-id").Single(), message, StringComparison.Ordinal);
        Assert.DoesNotContain(CrashingGatewayFixture.Secret, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AfterACrash_TheGatewayStillServes()
    {
        using (await gateway.Http.PostAsync("/test/crash", new StringContent("{}")))
        {
        }

        using var response = await gateway.Http.PostAsync("/v1/chat/completions", new StringContent("""{"model":"sim-small","max_tokens":3,"messages":[{"role":"user","content":"hi"}]}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
