using System.Diagnostics;
using System.Globalization;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Hosting;
using Gateway.Grpc.Server.Pipeline;
using Gateway.Grpc.Server.Services;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

// CPU and allocation per call of the completion pipeline and of its parts, in process: the
// gateway's own host (GatewayApp.Build, the configuration bench/run.sh gives its gRPC hop) with an
// adapter that answers at once, so what is measured is the gateway's own work per call, with no
// network, HTTP/2, protobuf or thread hops. Three hosts side by side: the default (SQLite ledger,
// metrics on), one with metrics off (`telemetry:metrics:prometheus: false`) and one whose
// settlement drops its ledger row (a sink only this benchmark has), so that what the metrics and
// the ledger cost a call reads as a difference between columns. Every part runs
// on the same worker threads in interleaved rounds; CPU is the whole process's, the ledger
// writer's inserts included (a round ends when every queued row is written), allocation
// GC.GetTotalAllocatedBytes. Not part of the test suite; bench/profile.sh
// runs it for PROFILE.md.
// Usage: dotnet run -c Release --project bench/Pipeline.Benchmarks -- [calls per part and round] [threads] [rounds]
var calls = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200_000;
var threads = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2;
var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;
if (calls < 1 || threads < 1 || rounds < 1)
{
    Console.Error.WriteLine("usage: [calls >= 1] [threads >= 1] [rounds >= 1]");
    return 2;
}

var work = Directory.CreateTempSubdirectory("gw-pipeline-bench-");
var hosts = new List<Bench>();
try
{
    hosts.Add(await Bench.StartAsync("default", work.FullName, [], withLedger: true));
    hosts.Add(await Bench.StartAsync("nometrics", work.FullName, new() { ["telemetry:metrics:prometheus"] = "false" }, withLedger: true));
    hosts.Add(await Bench.StartAsync("noledger", work.FullName, [], withLedger: false));
    var parts = hosts[0].Parts.Select(static p => p.Name).ToArray();
    for (var warm = 0; warm < 2; warm++)
    {
        foreach (var host in hosts)
        {
            foreach (var part in host.Parts.Where(host.Measures))
            {
                await RunAsync(part.Run, calls, threads); // tiered JIT reaches its final code
            }
        }
    }

    // results[host][part] = one (CPU µs, bytes) per round
    var results = hosts.Select(h => h.Parts.Select(static _ => new List<(double Cpu, double Alloc)>()).ToArray()).ToArray();
    for (var round = 0; round < rounds; round++)
    {
        for (var p = 0; p < parts.Length; p++)
        {
            for (var h = 0; h < hosts.Count; h++)
            {
                if (hosts[h].Measures(hosts[h].Parts[p]))
                {
                    results[h][p].Add(await MeasureAsync(hosts[h].Parts[p].Run, calls, threads, () => hosts.All(static b => b.LedgerBacklog == 0)));
                }
            }
        }
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{calls:N0} calls per part, host and round; {threads} worker thread(s); {rounds} interleaved rounds; {Environment.ProcessorCount} cores; .NET {Environment.Version}"));
    Console.WriteLine();
    Console.WriteLine("CPU µs per call: median of the rounds (each round's figure in brackets). B: bytes allocated per call (the default host; governance: the host without a ledger).");
    Console.WriteLine("Governance alone runs only where the ledger is off: on its own it settles calls far faster than any real call rate, and the SQLite writer's backlog then costs more per row than in a call.");
    Console.WriteLine();
    Console.WriteLine("| part of a unary call | default | metrics off | ledger off | B |");
    Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
    for (var p = 0; p < parts.Length; p++)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {parts[p]} | {Cell(results[0][p])} | {Cell(results[1][p])} | {Cell(results[2][p])} | {Median(results[results[0][p].Count > 0 ? 0 : 2][p].Select(static r => r.Alloc)):N0} |"));
    }
}
finally
{
    foreach (var host in hosts)
    {
        await host.DisposeAsync();
    }

    work.Delete(recursive: true);
}

return 0;

static string Cell(List<(double Cpu, double Alloc)> rounds)
    => rounds.Count == 0 ? "n/a" : string.Create(CultureInfo.InvariantCulture, $"**{Median(rounds.Select(static r => r.Cpu)):F2}** ({string.Join(", ", rounds.Select(static r => r.Cpu.ToString("F2", CultureInfo.InvariantCulture)))})");

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted[sorted.Length / 2];
}

static async Task<(double Cpu, double Alloc)> MeasureAsync(Func<ValueTask> run, int calls, int threads, Func<bool> ledgersIdle)
{
    // The ledgers' writers finish the previous part's rows outside this window, and this part's inside it.
    await UntilAsync(ledgersIdle);
    GC.Collect();
    await Task.Delay(100);
    using var process = Process.GetCurrentProcess();
    var cpu0 = process.TotalProcessorTime;
    var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
    var done = await RunAsync(run, calls, threads);
    await UntilAsync(ledgersIdle);
    process.Refresh();
    var cpu = process.TotalProcessorTime - cpu0;
    var alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
    return (cpu.TotalMicroseconds / done, (double)alloc / done);
}

static async Task UntilAsync(Func<bool> condition)
{
    for (var waited = 0; !condition() && waited < 60_000; waited += 5)
    {
        await Task.Delay(5);
    }
}

static async Task<int> RunAsync(Func<ValueTask> run, int calls, int threads)
{
    var each = calls / threads;
    var workers = Enumerable.Range(0, threads).Select(_ => Task.Run(async () =>
    {
        for (var i = 0; i < each; i++)
        {
            await run();
        }
    })).ToArray();
    await Task.WhenAll(workers);
    return each * threads;
}

/// <summary>One gateway host and the parts of a call measured on it.</summary>
internal sealed class Bench : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly LedgerWriter _ledger;

    private Bench(WebApplication app, List<Part> parts, bool hasLedger)
    {
        _app = app;
        HasLedger = hasLedger;
        _ledger = app.Services.GetRequiredService<LedgerWriter>();
        Parts = parts;
    }

    /// <summary>Ledger rows queued and not yet written (none where settlement drops its rows).</summary>
    public long LedgerBacklog => _ledger.Backlog;

    /// <summary>False for the host whose settlement drops its ledger rows.</summary>
    public bool HasLedger { get; }

    public List<Part> Parts { get; }

    /// <summary>Parts that would flood the ledger run only where it is off (see the output's note).</summary>
    public bool Measures(Part part) => !part.FloodsLedger || !HasLedger;

    public static async Task<Bench> StartAsync(string name, string work, Dictionary<string, string?> changes, bool withLedger)
    {
        var settings = new Dictionary<string, string?>
        {
            ["grpcAddress"] = "127.0.0.1:0",
            ["httpAddress"] = "127.0.0.1:0",
            ["logLevel"] = "Warning",
            ["store:kind"] = "sqlite",
            ["store:path"] = Path.Combine(work, name + ".db"),
            ["models:0:name"] = "bench-grpc",
            ["models:0:deployments:0:name"] = "sim-grpc",
            ["models:0:deployments:0:provider"] = ImmediateAdapter.Kind,
            ["models:0:deployments:0:upstreamModel"] = "sim-small",
        };
        foreach (var (key, value) in changes)
        {
            settings[key] = value;
        }

        // Without the ledger: settlement hands its row to a sink that drops it (the gateway itself has no such setting).
        Action<IServiceCollection>? configure = withLedger ? null : static services => services.AddSingleton<ILedgerSink, DroppingLedger>();
        var app = GatewayApp.Build([], settings, configure, [new ImmediateAdapter()]);
        await app.StartAsync();
        return new Bench(app, PartsOf(app.Services), withLedger);
    }

    private static List<Part> PartsOf(IServiceProvider services)
    {
        var pipeline = services.GetRequiredService<CompletionPipeline>();
        var dispatcher = services.GetRequiredService<Dispatcher>();
        var telemetry = services.GetRequiredService<CompletionTelemetry>();
        var governance = services.GetRequiredService<GovernanceService>();
        var options = services.GetRequiredService<GatewayOptions>();
        var contextWindows = services.GetRequiredService<ContextWindowGuard>();
        var metrics = services.GetRequiredService<GatewayMetrics>();
        services.GetRequiredService<ModelCatalog>().TryGet("bench-grpc", out var found);
        var group = found!;
        var request = new CompletionRequest { Model = "bench-grpc", Messages = { new Message { Role = Role.User, Content = "Say hello to the benchmark in a few words." } } };
        var answer = new CompletionResponse { Model = "sim-small", Usage = new Usage { InputTokens = 12, OutputTokens = 20 } };

        // One HTTP exchange per worker thread, as a connection's stream would give the pipeline.
        var http = new ThreadLocal<HttpContext>(static () => new DefaultHttpContext());
        CompletionCall Call()
        {
            // A new request id for every call, as each call's own exchange gives it: the exchange is
            // reused here, and an id already answered on it would be read back (and the ledger keeps
            // one row per request id, so every call but the first would insert nothing).
            var exchange = http.Value!;
            exchange.Response.Headers.Remove(CallerHeaders.RequestIdHeader);
            return new()
            {
                Http = exchange,
                Route = CompletionCall.GrpcRoute,
                RequestId = CallerHeaders.ResolveRequestId(exchange),
            };
        }

        List<Part> parts =
        [
            new("whole pipeline (`CompletionPipeline.CompleteAsync`)", FloodsLedger: false, Run: async () => await pipeline.CompleteAsync(request, Call())),
            new("dispatcher alone (call state, attempt, breaker, attempt metrics)", FloodsLedger: false, Run: async () =>
            {
                var state = dispatcher.NewCall(request, DateTime.MaxValue, CancellationToken.None);
                var (_, served) = await dispatcher.CompleteAsync(group, state);
                _ = state.Routing(served, finished: true);
            }),
            new("call telemetry alone (span, request/token/cost metrics, access log)", FloodsLedger: false, Run: () =>
            {
                var call = Call();
                var observed = telemetry.Begin(call, request, stream: false);
                observed.SetCaller(null, null);
                answer.Id = call.RequestId;
                observed.OnResponse(answer);
                observed.Complete(StatusCode.OK);
                return ValueTask.CompletedTask;
            }),
            new("governance alone (authenticate, admit, settle)", FloodsLedger: true, Run: async () =>
            {
                var principal = await governance.AuthenticateAsync(null, CancellationToken.None);
                var admission = await governance.AdmitAsync(principal, request, new CallInfo(RequestIds.New(), CompletionCall.GrpcRoute, false), CancellationToken.None);
                await admission.CompleteAsync(new CallOutcome
                {
                    Deployment = "sim-grpc",
                    Provider = ImmediateAdapter.Kind,
                    PricedModel = "sim-small",
                    InputTokens = 12,
                    OutputTokens = 20,
                    Status = StatusCode.OK,
                    Attempts = 1,
                });
            }),
            new("request id, validation, context-window check", FloodsLedger: false, Run: () =>
            {
                _ = Call();
                RequestValidator.Validate(request, options.RequestLimits);
                _ = contextWindows.Check(group, request);
                return ValueTask.CompletedTask;
            }),
            new("the 11 metric records of a served call alone", FloodsLedger: false, Run: () =>
            {
                // What the dispatcher's attempt and the call's end record, with the tags they give.
                metrics.RecordAttempt("sim-grpc", ImmediateAdapter.Kind, "success", error: null, TimeSpan.FromMilliseconds(1.2), "sim-small");
                metrics.RecordRequest(CompletionCall.GrpcRoute, "bench-grpc", ImmediateAdapter.Kind, "OK", stream: false, TimeSpan.FromMilliseconds(1.5), responseModel: "sim-small", outputTokens: 20);
                metrics.RecordTokens("bench-grpc", ImmediateAdapter.Kind, team: null, inputTokens: 12, outputTokens: 20, responseModel: "sim-small");
                metrics.RecordCost("bench-grpc", ImmediateAdapter.Kind, team: null, 0.0001);
                return ValueTask.CompletedTask;
            }),
        ];

        // PIPELINE_BENCH_PARTS=0,5 measures only those parts (for a profiler).
        return Environment.GetEnvironmentVariable("PIPELINE_BENCH_PARTS") is { Length: > 0 } only
            ? [.. only.Split(',').Select(i => parts[int.Parse(i, CultureInfo.InvariantCulture)])]
            : parts;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One part of a unary call; <paramref name="FloodsLedger"/>: it settles calls with nothing else to do, so fast that the ledger writer falls behind (measured only where the ledger is off).</summary>
internal sealed record Part(string Name, bool FloodsLedger, Func<ValueTask> Run);

/// <summary>A ledger that drops every row: the "ledger off" host, to measure the ledger by difference.</summary>
internal sealed class DroppingLedger : ILedgerSink
{
    public void Enqueue(LedgerEntry entry)
    {
    }
}

/// <summary>A provider that answers at once with a fresh 20-token reply, as an adapter hands the dispatcher a parsed one.</summary>
internal sealed class ImmediateAdapter : IProviderAdapter
{
    public const string Kind = "immediate";

    public string Provider => Kind;

    public Task<CompletionResponse> CompleteAsync(ProviderCall call, CancellationToken cancellationToken)
        => Task.FromResult(new CompletionResponse
        {
            Model = call.Deployment.UpstreamModel,
            Provider = Kind,
            Message = new Message { Role = Role.Assistant, Content = "Hello, benchmark! Nice to meet you here today, friend." },
            FinishReason = FinishReason.Stop,
            Usage = new Usage { InputTokens = 12, OutputTokens = 20 },
        });

    public IAsyncEnumerable<CompletionChunk> StreamAsync(ProviderCall call, CancellationToken cancellationToken)
        => throw new NotSupportedException("The pipeline benchmark measures unary calls.");
}
