using System.IO.Compression;
using System.Net;
using Gateway.Grpc.Tests.Interop;
using Grpc.AspNetCore.Server;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Tests.TestInfrastructure;

/// <summary>
/// Grpc.AspNetCore on Kestrel on free loopback ports, configured as the gateway configures its
/// gRPC server (src/Server/Hosting/GatewayApp.cs): one h2c port (<c>HttpProtocols.Http2</c>: a
/// cleartext Http1AndHttp2 endpoint refuses prior-knowledge h2c), one HTTP/1.1 port, the
/// gateway's default message size limit, gzip, no detailed errors.
/// </summary>
internal sealed class GrpcTestServer : IAsyncDisposable
{
    /// <summary>The gateway's default <c>maxReceiveMessageSize</c> (GatewayOptions).</summary>
    public const int MaxReceiveMessageSize = 4 * 1024 * 1024;

    /// <summary>The gateway's default <c>maxStreamsPerConnection</c> (GatewayOptions).</summary>
    public const int MaxStreamsPerConnection = 1000;

    private GrpcTestServer(WebApplication app, Uri address, Uri http1Address, TestLogSink logs)
    {
        App = app;
        Address = address;
        Http1Address = http1Address;
        Logs = logs;
    }

    public WebApplication App { get; }

    /// <summary>The h2c address, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Address { get; }

    /// <summary>An HTTP/1.1-only address on the same app.</summary>
    public Uri Http1Address { get; }

    /// <summary><c>127.0.0.1:PORT</c> of the h2c endpoint, as grpc-js wants it.</summary>
    public string HostPort => $"{Address.Host}:{Address.Port}";

    /// <summary>Everything the server logged.</summary>
    public TestLogSink Logs { get; }

    /// <summary>
    /// Starts a server with <c>AddGrpc</c>; <paramref name="map"/> maps the services
    /// (<c>MapGrpcService&lt;T&gt;</c>), <paramref name="configureServices"/> registers what they need.
    /// </summary>
    public static async Task<GrpcTestServer> StartAsync(
        Action<WebApplication> map,
        Action<IServiceCollection>? configureServices = null,
        Action<GrpcServiceOptions>? configureGrpc = null)
    {
        var logs = new TestLogSink();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(logs);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.MaxStreamsPerConnection = MaxStreamsPerConnection;
            kestrel.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2);
            kestrel.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http1);
        });
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = MaxReceiveMessageSize;
            o.EnableDetailedErrors = false;
            o.ResponseCompressionLevel = CompressionLevel.Fastest;
            // grpc-dotnet's gzip provider, wrapped so TestService can see compressed flags.
            o.CompressionProviders = [new RecordingGzipCompressionProvider(CompressionLevel.Fastest)];
            configureGrpc?.Invoke(o);
        });
        builder.Services.AddHttpContextAccessor();
        configureServices?.Invoke(builder.Services);
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        // Kestrel reports bound addresses in Listen order.
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        return new GrpcTestServer(app, new Uri(addresses[0]), new Uri(addresses[1]), logs);
    }

    public GrpcChannel CreateChannel(GrpcChannelOptions? options = null) => GrpcChannel.ForAddress(Address, options ?? new GrpcChannelOptions());

    /// <summary>An HttpClient that speaks prior-knowledge h2c, for hand-made requests.</summary>
    public static HttpClient CreateH2cHttpClient() => new(new SocketsHttpHandler { UseProxy = false })
    {
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
