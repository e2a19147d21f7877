// Throughput of Gateway.Grpc.Redis against redis-benchmark, side by side on one fresh redis-server.
// Run: dotnet run -c Release --project bench/Redis [-- <requests>]
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Gateway.Grpc.Redis;

var requests = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 400_000;
var port = FreePort();
using var server = Process.Start(new ProcessStartInfo("redis-server", $"--port {port} --bind 127.0.0.1 --save \"\" --appendonly no")
{
    RedirectStandardOutput = true,
    UseShellExecute = false,
})!;
try
{
    while (server.StandardOutput.ReadLine() is { } line && !line.Contains("Ready to accept connections", StringComparison.Ordinal))
    {
    }

    Console.WriteLine($"redis-server on 127.0.0.1:{port}, {requests:N0} INCRs per run, {Environment.ProcessorCount} cores");
    Console.WriteLine();
    Console.WriteLine("| client | mode | ops/s |");
    Console.WriteLine("| --- | --- | ---: |");
    Console.WriteLine($"| redis-benchmark | -t incr -P 16 (50 connections, 16 in flight each) | {RedisBenchmark(port, requests, "-P 16"):N0} |");
    Console.WriteLine($"| redis-benchmark | -t incr (50 connections, 1 in flight each) | {RedisBenchmark(port, requests, string.Empty):N0} |");

    await using var redis = await RedisConnection.ConnectAsync(new RedisOptions { Endpoint = $"127.0.0.1:{port}" });
    await RunAsync(redis, 10_000, 10, 1, "bench:warmup");
    long expected = 0;
    foreach (var (callers, burst) in new[] { (50, 1), (50, 16), (200, 1), (1, 16) })
    {
        var rate = await RunAsync(redis, requests, callers, burst, "bench:c");
        Console.WriteLine($"| Gateway.Grpc.Redis | {callers} concurrent callers x {burst} awaited together, 1 multiplexed connection | {rate:N0} |");
        expected += requests / callers / burst * callers * burst;
    }

    // Every INCR must have landed exactly once.
    var counted = long.Parse((await redis.StringGetAsync("bench:c"))!, CultureInfo.InvariantCulture);
    Console.WriteLine();
    Console.WriteLine(counted == expected ? $"bench:c = {counted:N0} as expected" : $"MISMATCH: bench:c = {counted:N0}, expected {expected:N0}");
}
finally
{
    server.Kill();
    await server.WaitForExitAsync();
}

static async Task<double> RunAsync(RedisConnection redis, int total, int callers, int burst = 1, string key = "bench:c")
{
    var perCaller = total / callers / burst;
    var stopwatch = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
    {
        var batch = new Task<long>[burst];
        for (var i = 0; i < perCaller; i++)
        {
            for (var j = 0; j < burst; j++)
            {
                batch[j] = redis.IncrByAsync(key);
            }

            await Task.WhenAll(batch);
        }
    })));
    return perCaller * callers * burst / stopwatch.Elapsed.TotalSeconds;
}

static double RedisBenchmark(int port, int requests, string extra)
{
    using var process = Process.Start(new ProcessStartInfo("redis-benchmark", $"-p {port} -t incr -n {requests} -q {extra}")
    {
        RedirectStandardOutput = true,
        UseShellExecute = false,
    })!;
    var output = process.StandardOutput.ReadToEnd();
    process.WaitForExit();

    // "INCR: 123456.79 requests per second, p50=0.303 msec" (progress lines end in \r)
    var line = output.Split('\r', '\n').Last(l => l.StartsWith("INCR:", StringComparison.Ordinal) && l.Contains("requests per second", StringComparison.Ordinal));
    return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}
