using System.Globalization;
using System.Net;
using Gateway.Grpc.Bench.Passthrough;
using Gateway.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Server.Kestrel.Core;

// Usage: Gateway.Grpc.Bench.Passthrough --port N --upstream http://127.0.0.1:PORT [--max-streams N]
// Prints "PASSTHROUGH_GRPC http://127.0.0.1:N" once it listens (bench/run.sh waits for that line).
int port = 0;
string? upstreamAddress = null;
var maxStreams = 5000; // what bench/run.sh gives the gateway (maxStreamsPerConnection)
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--port":
            port = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            break;
        case "--upstream":
            upstreamAddress = args[i + 1];
            break;
        case "--max-streams":
            maxStreams = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            break;
        default:
            await Console.Error.WriteLineAsync($"passthrough: unknown argument '{args[i]}'");
            return 2;
    }
}

if (port <= 0 || upstreamAddress is null)
{
    await Console.Error.WriteLineAsync("usage: Gateway.Grpc.Bench.Passthrough --port N --upstream http://127.0.0.1:PORT [--max-streams N]");
    return 2;
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.Logging.AddConsole();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
// As the gateway (GatewayApp.ConfigureLogging): with any logger of this category enabled, ASP.NET
// Core's hosting starts an Activity per request for log correlation, and HttpClient then
// propagates it upstream (a traceparent header, its diagnostics handler). The gateway switches
// the category off; so does the floor it is compared with, or the two would differ in more than
// code (2026-12-06: 12.7 -> 9.9 KB allocated and about 9 % less CPU per call here).
builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    kestrel.Limits.Http2.MaxStreamsPerConnection = maxStreams;
    // Cleartext Http1AndHttp2 refuses prior-knowledge h2c, so the port is HTTP/2 only (as the gateway's).
    kestrel.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2);
});

// One channel for every call. More than one HTTP/2 connection once the upstream's stream limit
// is reached (idle-stream runs open thousands), and pooled connections never time out between
// benchmark phases.
var channel = GrpcChannel.ForAddress(upstreamAddress, new GrpcChannelOptions
{
    HttpHandler = new SocketsHttpHandler
    {
        EnableMultipleHttp2Connections = true,
        PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
    },
});
builder.Services.AddSingleton(channel);
builder.Services.AddSingleton(static sp => new Completion.CompletionClient(sp.GetRequiredService<GrpcChannel>()));
builder.Services.AddGrpc();

var app = builder.Build();
app.MapGrpcService<PassthroughService>();
await app.StartAsync();
Console.WriteLine($"PASSTHROUGH_GRPC http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
await app.WaitForShutdownAsync();
return 0;
