using Gateway.Grpc.Tests.TestInfrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Tests.Interop;

/// <summary>
/// Grpc.AspNetCore hosting grpc.testing.TestService (and the probe service of the deadline and
/// cancellation tests) with the gateway's server settings, shared by a test class.
/// </summary>
public sealed class InteropServerFixture : IAsyncLifetime
{
    private GrpcTestServer? _server;

    internal GrpcTestServer Server => _server ?? throw new InvalidOperationException("Not started.");

    internal ProbeService Probe { get; } = new();

    public async Task InitializeAsync()
        => _server = await GrpcTestServer.StartAsync(
            app =>
            {
                // Plain HTTP answers without grpc-status, for the client's HTTP status mapping.
                app.Use(static (context, next) =>
                {
                    if (context.Request.Path.StartsWithSegments("/test.Http", out var rest) && int.TryParse(rest.Value.AsSpan(1), out var status))
                    {
                        context.Response.StatusCode = status;
                        context.Response.ContentType = status == 200 ? "application/json" : "text/plain";
                        return context.Response.WriteAsync("{}");
                    }

                    return next(context);
                });
                app.MapGrpcService<TestServiceImpl>();
                app.MapGrpcService<ProbeService>();
            },
            services => services.AddSingleton(Probe));

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
