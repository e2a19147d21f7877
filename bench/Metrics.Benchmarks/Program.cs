using System.Diagnostics;
using System.Globalization;
using Gateway.Grpc.Observability.Configuration;
using Gateway.Grpc.Observability.Hosting;
using Gateway.Grpc.Observability.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// CPU per call of the metric recordings a served unary call makes (one attempt, the call, its
// tokens and cost: 11 instrument records, 6 of them histograms), through the gateway's own
// registration (AddGatewayObservability: the OpenTelemetry SDK with the Prometheus exporter), in
// a host of its own. With several threads the records contend as a loaded gateway's do: every
// call of one model updates the same metric points.
// Usage: dotnet run -c Release --project bench/Metrics.Benchmarks -- [calls] [threads]
var calls = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2_000_000;
var threads = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1;
if (calls < 1 || threads < 1)
{
    Console.Error.WriteLine("usage: [calls >= 1] [threads >= 1]");
    return 2;
}

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Services.AddGatewayObservability(new TelemetryOptions(), new AccessLogOptions(), new AuditOptions());
using var host = builder.Build();
await host.StartAsync();
var metrics = host.Services.GetRequiredService<GatewayMetrics>();

// The tag values of bench/run.sh's gRPC hop: model bench-grpc, deployment sim-grpc, provider grpc.
void OneCall()
{
    metrics.RecordAttempt("sim-grpc", "grpc", "success", error: null, TimeSpan.FromMilliseconds(1.2), "sim-small");
    metrics.RecordRequest("grpc", "bench-grpc", "grpc", "OK", stream: false, TimeSpan.FromMilliseconds(1.5), errorType: null, responseModel: "sim-small", timeToFirstToken: null, outputTokens: 20);
    metrics.RecordTokens("bench-grpc", "grpc", team: null, inputTokens: 12, outputTokens: 20, responseModel: "sim-small");
    metrics.RecordCost("bench-grpc", "grpc", team: null, 0.0001);
}

void Run(int count)
{
    for (var i = 0; i < count; i++)
    {
        OneCall();
    }
}

Run(200_000); // tiered JIT reaches its final code
for (var round = 1; round <= 3; round++)
{
    var wall = Stopwatch.StartNew();
    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
    var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() => Run(calls / threads))).ToList();
    workers.ForEach(static t => t.Start());
    workers.ForEach(static t => t.Join());
    var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
    var done = calls / threads * threads;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"round {round}, {threads} thread(s): {cpu.TotalMilliseconds * 1e6 / done:F0} ns CPU per call, {wall.Elapsed.TotalMilliseconds * 1e6 / done:F0} ns wall"));
}

await host.StopAsync();
return 0;
