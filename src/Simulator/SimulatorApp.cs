using System.Net;
using Gateway.Grpc.Simulator.Grpc;
using Gateway.Grpc.Simulator.Http;
using Gateway.Grpc.Simulator.Http.Admin;
using Gateway.Grpc.Simulator.Internal;
using Gateway.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Simulator;

/// <summary>
/// Builds the provider simulator: an HTTP/1.1 port with the OpenAI, Azure OpenAI, Anthropic and
/// Gemini APIs plus the admin API (<c>/_sim/*</c>), and an h2c port with gateway.v1 over gRPC
/// (with health and reflection).
/// </summary>
/// <example>
/// <code>
/// await using var app = SimulatorApp.Build(new SimulatorOptions());   // free loopback ports
/// await app.StartAsync();
/// var http = app.GetHttpAddress();    // http://127.0.0.1:PORT
/// var grpc = app.GetGrpcAddress();
/// var sim = app.Services.GetRequiredService&lt;SimulatorState&gt;();
/// </code>
/// </example>
public static class SimulatorApp
{
    /// <summary>Builds the app; throws <see cref="ArgumentException"/> naming every bad option.</summary>
    public static WebApplication Build(SimulatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid simulator options:\n  " + string.Join("\n  ", errors), nameof(options));
        }

        EndpointParser.TryParse(options.HttpAddress, out var httpEndpoint);
        EndpointParser.TryParse(options.GrpcAddress, out var grpcEndpoint);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Gateway.Grpc.Simulator", Args = [] });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Logging.SetMinimumLevel(options.LogLevel);

        // A flush completes only once the socket has taken the bytes (pause at 2, resume at 0
        // pending bytes). Otherwise the disconnect fault would cut the connection while
        // "flushed" events still sat in the transport's queue, and the client would miss tokens.
        builder.WebHost.UseSockets(sockets => sockets.MaxWriteBufferSize = 2);
        var listeners = new SimulatorListeners();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.MaxStreamsPerConnection = 1000;
            kestrel.Limits.MinResponseDataRate = null;
            kestrel.Limits.MaxResponseBufferSize = 1;

            kestrel.Listen(httpEndpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listeners.Http = listen;
            });

            // Cleartext Http1AndHttp2 refuses prior-knowledge h2c, so gRPC gets an HTTP/2-only port.
            kestrel.Listen(grpcEndpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listeners.Grpc = listen;
            });
        });

        var timeProvider = options.TimeProvider ?? TimeProvider.System;
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(timeProvider);
        services.AddSingleton(listeners);
        services.AddSingleton(sp => new SimulatorState(options, timeProvider));
        services.AddSingleton<ProviderPipeline>();
        services.AddSingleton<GrpcSimulator>();
        services.AddGrpc(o => o.EnableDetailedErrors = true);
        services.AddGrpcReflection();

        // grpc.health.v1: the whole server ("") and each gateway.v1 service are SERVING while
        // the simulator runs (it has nothing to be unhealthy about).
        services.AddHealthChecks().AddCheck("simulator", static () => HealthCheckResult.Healthy());
        services.AddGrpcHealthChecks(o =>
        {
            o.Services.Map(Completion.Descriptor.FullName, static _ => true);
            o.Services.Map(Models.Descriptor.FullName, static _ => true);
        });

        var app = builder.Build();
        app.MapGrpcService<CompletionService>();
        app.MapGrpcService<ModelsService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapAdminEndpoints();
        app.MapProviderEndpoints();
        app.MapFallback(ProviderEndpoints.NotFoundAsync);
        return app;
    }

    /// <summary>The HTTP/1.1 base address (provider and admin APIs), e.g. <c>http://127.0.0.1:41234</c>. Valid after start.</summary>
    public static Uri GetHttpAddress(this WebApplication app) => Address(app, grpc: false);

    /// <summary>The h2c base address for gRPC. Valid after start.</summary>
    public static Uri GetGrpcAddress(this WebApplication app) => Address(app, grpc: true);

    private static Uri Address(WebApplication app, bool grpc)
    {
        ArgumentNullException.ThrowIfNull(app);
        var listeners = app.Services.GetRequiredService<SimulatorListeners>();
        var listen = (grpc ? listeners.Grpc : listeners.Http) ?? throw new InvalidOperationException("The simulator has not been configured.");
        if (listen.IPEndPoint is not { Port: > 0 } endpoint)
        {
            throw new InvalidOperationException("The simulator is not listening yet: call StartAsync() first.");
        }

        var host = endpoint.Address.Equals(IPAddress.Any) ? "127.0.0.1"
            : endpoint.Address.Equals(IPAddress.IPv6Any) ? "[::1]"
            : endpoint.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "[" + endpoint.Address + "]"
            : endpoint.Address.ToString();
        return new Uri($"http://{host}:{endpoint.Port}");
    }
}

/// <summary>Kestrel's listen options, kept to read the bound ports after start.</summary>
internal sealed class SimulatorListeners
{
    public ListenOptions? Http { get; set; }

    public ListenOptions? Grpc { get; set; }
}
