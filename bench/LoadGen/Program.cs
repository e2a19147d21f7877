using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Grpc.Client;
using Gateway.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Gateway.Grpc.LoadGen;

/// <summary>
/// Benchmark load generator (not a test). Sub-commands:
///   frame   --model M --out FILE                          gRPC-framed CompletionRequest for h2load -d
///   grpc    --url U --model M --mode unary|stream -c N --duration S [--label L] [--alloc-file F] [--out results.jsonl]
///           [--prompts FILE] [--unique 1] [--header NAME=VALUE] [--max-requests N]
///           prompts cycles the file's lines as the user turn (one per call); unique puts the call's
///           number in front of each (every call a new prompt); header is sent as gRPC metadata;
///           max-requests ends the run after N calls (duration still bounds it)
///   rest    --url U --model M -c N --duration S [--label L] [--out results.jsonl]
///   h2load  [--log FILE] --stdout FILE --label L [--cpu-ticks T --clk-tck HZ --cpu-since-us US] [--round N] [--out results.jsonl]
///           percentiles from h2load's --log-file; CPU per call = T ticks over the logged requests completed since US
///   idle    --url U --model M --streams N --pid PID --metrics URL|none [--through T --upstream U] [--hold SECONDS] [--out results.jsonl]
///   rss     --pid PID --label L [--phase P --minutes N] [--out results.jsonl]
///   report  --in results.jsonl --facts FILE --command CMD --out RESULTS.md
/// Every measurement is one JSON line appended to --out (and printed).
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: loadgen frame|grpc|rest|h2load|idle|rss|report [options]");
            return 2;
        }

        var opts = Options.Parse(args.AsSpan(1));
        try
        {
            return args[0] switch
            {
                "frame" => Frame(opts),
                "grpc" => await GrpcLoad(opts),
                "rest" => await RestLoad(opts),
                "h2load" => H2LoadLog(opts),
                "idle" => await IdleStreams(opts),
                "rss" => Rss(opts),
                "report" => Report.Write(opts),
                _ => throw new ArgumentException($"unknown command '{args[0]}'"),
            };
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine("loadgen: " + ex.Message);
            return 2;
        }
    }

    internal static CompletionRequest NewRequest(string model) => new()
    {
        Model = model,
        Messages = { new Message { Role = Role.User, Content = "Say hello to the benchmark in a few words." } },
    };

    private static int Frame(Options o)
    {
        var payload = NewRequest(o.Required("model")).ToByteArray();
        var framed = new byte[5 + payload.Length];
        framed[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(framed, 5);
        File.WriteAllBytes(o.Required("out"), framed);
        Console.WriteLine($"wrote {framed.Length} bytes (5-byte prefix + {payload.Length}) to {o.Required("out")}");
        return 0;
    }

    private static (long Bytes, long Gen0, long Gen1, long Gen2)? ReadAlloc(string? file)
    {
        if (file is null || !File.Exists(file))
        {
            return null;
        }

        for (var i = 0; i < 5; i++)
        {
            try
            {
                var p = File.ReadAllText(file).Trim().Split(' ');
                return (long.Parse(p[0], CultureInfo.InvariantCulture), long.Parse(p[1], CultureInfo.InvariantCulture),
                    long.Parse(p[2], CultureInfo.InvariantCulture), long.Parse(p[3], CultureInfo.InvariantCulture));
            }
            catch (Exception) when (i < 4)
            {
                Thread.Sleep(20);
            }
        }

        return null;
    }

    private static async Task<int> GrpcLoad(Options o)
    {
        var url = o.Required("url");
        var model = o.Required("model");
        var stream = o.Get("mode", "unary") == "stream";
        var concurrency = o.Int("c", 10);
        var duration = TimeSpan.FromSeconds(o.Double("duration", 5));
        var warmup = TimeSpan.FromSeconds(o.Double("warmup", 1));
        var label = o.Get("label", null) ?? $"grpc-{(stream ? "stream" : "unary")}-c{concurrency}";
        var allocFile = o.Get("alloc-file", null);

        using var channel = CreateChannel(url);
        var client = new Completion.CompletionClient(channel);
        var fixedRequest = NewRequest(model);
        var prompts = o.Get("prompts", null) is { } promptFile ? File.ReadAllLines(promptFile).Where(static l => l.Length > 0).ToArray() : null;
        var unique = o.Get("unique", null) is not null;
        var maxRequests = o.Int("max-requests", int.MaxValue);
        var issued = 0L;
        Metadata? headers = null;
        if (o.Get("header", null) is { } header)
        {
            var eq = header.IndexOf('=', StringComparison.Ordinal);
            headers = new Metadata { { header[..eq], header[(eq + 1)..] } };
        }

        CompletionRequest NextRequest()
        {
            var n = Interlocked.Increment(ref issued);
            if (prompts is null && !unique)
            {
                return fixedRequest;
            }

            var text = prompts is null ? fixedRequest.Messages[0].Content : prompts[(int)((n - 1) % prompts.Length)];
            return new CompletionRequest { Model = model, Messages = { new Message { Role = Role.User, Content = unique ? $"{n} {text}" : text } } };
        }

        CallOptions Call() => new(headers: headers, deadline: DateTime.UtcNow.AddSeconds(30));
        var request = NextRequest();

        // One sample call that must succeed: h2load cannot see grpc-status, this can.
        if (stream)
        {
            await foreach (var _ in client.StreamEventsAsync(request, Call())) { }
        }
        else
        {
            await client.CompleteAsync(request, Call());
        }

        async Task<Stats> Run(TimeSpan length)
        {
            var stats = new Stats();
            var end = Stopwatch.GetTimestamp() + (long)(length.TotalSeconds * Stopwatch.Frequency);
            var workers = Enumerable.Range(0, concurrency).Select(async _ =>
            {
                var local = new WorkerStats();
                while (Stopwatch.GetTimestamp() < end && Interlocked.Read(ref issued) < maxRequests)
                {
                    var request = NextRequest();
                    var start = Stopwatch.GetTimestamp();
                    try
                    {
                        if (stream)
                        {
                            var first = 0L;
                            var chunks = 0;
                            await foreach (var chunk in client.StreamEventsAsync(request, Call()))
                            {
                                if (first == 0 && chunk.EventCase == CompletionChunk.EventOneofCase.Delta)
                                {
                                    first = Stopwatch.GetTimestamp();
                                }

                                chunks++;
                            }

                            local.Ttft.Add(first == 0 ? Stopwatch.GetTimestamp() - start : first - start);
                            local.Chunks += chunks;
                        }
                        else
                        {
                            await client.CompleteAsync(request, Call());
                        }

                        local.Latency.Add(Stopwatch.GetTimestamp() - start);
                    }
                    catch (Exception ex)
                    {
                        local.Errors++;
                        local.LastError ??= ex.GetType().Name + ": " + ex.Message;
                    }
                }

                return local;
            }).ToArray();
            var t0 = Stopwatch.GetTimestamp();
            foreach (var w in await Task.WhenAll(workers))
            {
                stats.Merge(w);
            }

            stats.Seconds = (Stopwatch.GetTimestamp() - t0) / (double)Stopwatch.Frequency;
            return stats;
        }

        if (warmup > TimeSpan.Zero)
        {
            await Run(warmup);
        }

        Thread.Sleep(250);
        var before = ReadAlloc(allocFile);
        var result = await Run(duration);
        Thread.Sleep(250);
        var after = ReadAlloc(allocFile);

        var row = result.ToJson(label, "loadgen", url);
        row["kind"] = stream ? "grpc-stream" : "grpc-unary";
        row["concurrency"] = concurrency;
        if (before is { } b && after is { } a && result.Count > 0)
        {
            row["alloc_bytes_per_req"] = (a.Bytes - b.Bytes) / result.Count;
            row["gen0"] = a.Gen0 - b.Gen0;
            row["gen1"] = a.Gen1 - b.Gen1;
            row["gen2"] = a.Gen2 - b.Gen2;
        }

        Emit(o, row);
        return 0;
    }

    private static async Task<int> RestLoad(Options o)
    {
        var url = o.Required("url").TrimEnd('/') + "/v1/chat/completions";
        var model = o.Required("model");
        var concurrency = o.Int("c", 10);
        var duration = TimeSpan.FromSeconds(o.Double("duration", 5));
        var label = o.Get("label", null) ?? $"rest-c{concurrency}";
        var auth = o.Get("auth", "Bearer bench")!;
        var body = $"{{\"model\":\"{model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Say hello to the benchmark in a few words.\"}}]}}";

        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency, UseProxy = false, PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };

        async Task<HttpStatusCode> Call()
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            if (auth != "none")
            {
                req.Headers.TryAddWithoutValidation("authorization", auth);
            }

            using var resp = await http.SendAsync(req);
            await resp.Content.ReadAsByteArrayAsync();
            return resp.StatusCode;
        }

        var sample = await Call();
        if (sample != HttpStatusCode.OK)
        {
            throw new ArgumentException($"sample REST call to {url} answered {(int)sample}");
        }

        async Task<Stats> Run(TimeSpan length)
        {
            var stats = new Stats();
            var end = Stopwatch.GetTimestamp() + (long)(length.TotalSeconds * Stopwatch.Frequency);
            var workers = Enumerable.Range(0, concurrency).Select(async _ =>
            {
                var local = new WorkerStats();
                while (Stopwatch.GetTimestamp() < end)
                {
                    var start = Stopwatch.GetTimestamp();
                    try
                    {
                        var status = await Call();
                        if (status == HttpStatusCode.OK)
                        {
                            local.Latency.Add(Stopwatch.GetTimestamp() - start);
                        }
                        else
                        {
                            local.Errors++;
                            local.LastError ??= "HTTP " + (int)status;
                        }
                    }
                    catch (Exception ex)
                    {
                        local.Errors++;
                        local.LastError ??= ex.GetType().Name + ": " + ex.Message;
                    }
                }

                return local;
            }).ToArray();
            var t0 = Stopwatch.GetTimestamp();
            foreach (var w in await Task.WhenAll(workers))
            {
                stats.Merge(w);
            }

            stats.Seconds = (Stopwatch.GetTimestamp() - t0) / (double)Stopwatch.Frequency;
            return stats;
        }

        await Run(TimeSpan.FromSeconds(o.Double("warmup", 1)));
        var result = await Run(duration);
        var row = result.ToJson(label, "loadgen", url);
        row["kind"] = "rest";
        row["concurrency"] = concurrency;
        Emit(o, row);
        return 0;
    }

    /// <summary>
    /// h2load --log-file lines: start (µs since epoch) TAB status TAB elapsed µs. Without --log
    /// (a long run, where the log would be huge) only h2load's own summary is read.
    /// </summary>
    private static int H2LoadLog(Options o)
    {
        var stats = new Stats();
        var ticksPerUs = Stopwatch.Frequency / 1e6;
        var ok = 0L;
        var non200 = 0L;
        var cpuSince = (long)o.Double("cpu-since-us", 0);
        var inCpuWindow = 0L;
        var log = o.Get("log", null);
        foreach (var line in log is null ? [] : File.ReadLines(log))
        {
            var p = line.Split('\t');
            if (p.Length < 3)
            {
                continue;
            }

            // Calls that completed inside the CPU window (steady state: the window's CPU did their work).
            if (cpuSince > 0 && long.TryParse(p[0], CultureInfo.InvariantCulture, out var startUs)
                && long.TryParse(p[2], CultureInfo.InvariantCulture, out var elapsedUs) && startUs + elapsedUs >= cpuSince)
            {
                inCpuWindow++;
            }

            if (p[1] == "200")
            {
                ok++;
                stats.Latency.Add((long)(long.Parse(p[2], CultureInfo.InvariantCulture) * ticksPerUs));
            }
            else
            {
                non200++;
            }
        }

        var stdout = File.ReadAllText(o.Required("stdout"));
        var rps = 0.0;
        var m = System.Text.RegularExpressions.Regex.Match(stdout, @"finished in ([\d.]+)(m?s), ([\d.]+) req/s");
        if (m.Success)
        {
            rps = double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
        }

        var failed = System.Text.RegularExpressions.Regex.Match(stdout, @"(\d+) failed, (\d+) errored, (\d+) timeout");
        stats.Errors = non200 + (failed.Success ? long.Parse(failed.Groups[1].Value, CultureInfo.InvariantCulture) + long.Parse(failed.Groups[2].Value, CultureInfo.InvariantCulture) : 0);
        stats.Seconds = 1;
        var row = stats.ToJson(o.Required("label"), "h2load", o.Get("url", null) ?? "");
        row["rps"] = Math.Round(rps, 1);
        if (log is null)
        {
            var succeeded = System.Text.RegularExpressions.Regex.Match(stdout, @"(\d+) succeeded");
            row.Remove("p50_us");
            row.Remove("p90_us");
            row.Remove("p99_us");
            row.Remove("p999_us");
            row["requests"] = succeeded.Success ? long.Parse(succeeded.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        }

        if (o.Get("cpu-ticks", null) is not null && inCpuWindow > 0)
        {
            var cpuUs = o.Double("cpu-ticks", 0) * 1e6 / o.Double("clk-tck", 100);
            row["cpu_us_per_req"] = Math.Round(cpuUs / inCpuWindow, 1);
            row["cpu_window_requests"] = inCpuWindow;
        }

        row["kind"] = o.Get("kind", "h2load");
        row["concurrency"] = o.Get("concurrency", "");
        if (o.Get("round", null) is { } round)
        {
            row["round"] = int.Parse(round, CultureInfo.InvariantCulture);
        }

        Emit(o, row);
        return 0;
    }

    internal static long RssKb(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line[6..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
            }
        }

        throw new ArgumentException($"no VmRSS in /proc/{pid}/status");
    }

    private static int Rss(Options o)
    {
        var pid = o.Int("pid", 0);
        var row = new JsonObject { ["label"] = o.Required("label"), ["kind"] = "rss", ["rss_kb"] = RssKb(pid) };
        if (o.Get("phase", null) is { } phase)
        {
            row["phase"] = phase;
            row["minutes"] = o.Double("minutes", 0);
        }

        AddSmaps(row, pid);
        Emit(o, row);
        return 0;
    }

    /// <summary>
    /// Where the resident memory sits, from /proc/PID/smaps: anonymous memory (GC heap, native
    /// allocations, stacks), the runtime's W^X double mapping of executable memory (JIT'd code and
    /// stubs) and mapped files (the largest three named), so a run's idle RSS can be explained
    /// without a second run. Skipped quietly where smaps cannot be read.
    /// </summary>
    private static void AddSmaps(JsonObject row, int pid)
    {
        long anon = 0, exec = 0, files = 0, other = 0;
        var byFile = new Dictionary<string, long>(StringComparer.Ordinal);
        string current = "";
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
            {
                if (IsMappingHeader(line))
                {
                    var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                    current = parts.Length >= 6 ? parts[5].Trim() : "";
                    continue;
                }

                if (!line.StartsWith("Rss:", StringComparison.Ordinal))
                {
                    continue;
                }

                var kb = long.Parse(line[4..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
                if (current is "" or "[heap]" or "[stack]")
                {
                    anon += kb;
                }
                else if (current.StartsWith("/memfd:doublemapper", StringComparison.Ordinal))
                {
                    exec += kb;
                }
                else if (current.StartsWith('/'))
                {
                    files += kb;
                    var name = current[(current.LastIndexOf('/') + 1)..];
                    byFile[name] = byFile.GetValueOrDefault(name) + kb;
                }
                else
                {
                    other += kb;
                }
            }
        }
        catch (IOException)
        {
            return;
        }
        catch (UnauthorizedAccessException)
        {
            return;
        }

        row["anon_kb"] = anon;
        row["exec_kb"] = exec;
        row["files_kb"] = files;
        row["other_kb"] = other;
        row["largest_files"] = string.Join(", ", byFile.OrderByDescending(static p => p.Value).Take(3).Select(static p => $"{p.Key} {p.Value / 1024.0:F1}"));
    }

    /// <summary>An smaps mapping line: "start-end perms offset dev inode [path]".</summary>
    private static bool IsMappingHeader(string line)
    {
        var dash = line.IndexOf('-', StringComparison.Ordinal);
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        return dash > 0 && space > dash && !line.AsSpan(0, dash).ContainsAnyExcept("0123456789abcdef");
    }

    private static async Task<double> StreamsInFlight(HttpClient http, string metricsUrl)
    {
        var text = await http.GetStringAsync(metricsUrl);
        var sum = 0.0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("gateway_streams_in_flight", StringComparison.Ordinal) && !line.StartsWith("gateway_streams_in_flight_", StringComparison.Ordinal))
            {
                sum += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            }
        }

        return sum;
    }

    private static async Task<int> IdleStreams(Options o)
    {
        var url = o.Required("url");
        var model = o.Required("model");
        var count = o.Int("streams", 1000);
        var pid = o.Int("pid", 0);
        // "none": the process has no gateway_streams_in_flight gauge (the bare passthrough); RSS is
        // then read once it has stopped growing, and the row says no count confirmed the streams.
        var metricsUrl = o.Required("metrics");
        var gauge = metricsUrl != "none";
        using var http = new HttpClient();

        using var channel = CreateChannel(url);
        var client = new Completion.CompletionClient(channel);
        // Warm the path (connection, JIT) with a few streams first, then close them.
        {
            using var warm = new CancellationTokenSource();
            var calls = Enumerable.Range(0, 50).Select(_ => client.StreamComplete(NewRequest(model), new CallOptions(cancellationToken: warm.Token))).ToList();
            if (gauge)
            {
                await WaitFor(http, metricsUrl, 50, TimeSpan.FromSeconds(30));
            }
            else
            {
                await WaitForRssToSettle(pid, TimeSpan.FromSeconds(30));
            }

            warm.Cancel();
            foreach (var c in calls)
            {
                c.Dispose();
            }

            if (gauge)
            {
                await WaitFor(http, metricsUrl, 0, TimeSpan.FromSeconds(30), atMost: true);
            }
            else
            {
                Thread.Sleep(1000);
            }
        }

        var baseline = gauge ? await StreamsInFlight(http, metricsUrl) : 0;
        Thread.Sleep(500);
        var before = RssKb(pid);
        using var cts = new CancellationTokenSource();
        var open = new List<AsyncServerStreamingCall<CompletionChunk>>(count);
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            open.Add(client.StreamComplete(NewRequest(model), new CallOptions(cancellationToken: cts.Token)));
        }

        double? reached = gauge ? await WaitFor(http, metricsUrl, baseline + count, TimeSpan.FromSeconds(90)) : null;
        if (!gauge)
        {
            await WaitForRssToSettle(pid, TimeSpan.FromSeconds(90));
        }

        var openSeconds = sw.Elapsed.TotalSeconds;
        Thread.Sleep(1000);
        var after = RssKb(pid);
        var through = o.Get("through", "gateway")!;
        var row = new JsonObject
        {
            ["label"] = $"idle-{through}-{o.Get("upstream", "embedded")}-{count}",
            ["kind"] = "idle",
            ["through"] = through,
            ["upstream"] = o.Get("upstream", "embedded"),
            ["streams"] = count,
            ["open_seconds"] = Math.Round(openSeconds, 2),
            ["rss_before_kb"] = before,
            ["rss_after_kb"] = after,
            ["bytes_per_stream"] = (after - before) * 1024 / Math.Max(1, count),
        };
        if (reached is { } seen)
        {
            row["streams_seen_by_gateway"] = seen;
        }

        // --hold N: keep the streams open N more seconds (to take a heap dump of the process meanwhile).
        Thread.Sleep(TimeSpan.FromSeconds(o.Int("hold", 0)));
        cts.Cancel();
        foreach (var c in open)
        {
            c.Dispose();
        }

        if (gauge)
        {
            await WaitFor(http, metricsUrl, baseline, TimeSpan.FromSeconds(60), atMost: true);
        }
        else
        {
            Thread.Sleep(2000);
        }

        Emit(o, row);
        return 0;
    }

    /// <summary>Polls RSS every 500 ms until two readings in a row grew by less than 0.5% (at least 2 s).</summary>
    private static async Task WaitForRssToSettle(int pid, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        var last = RssKb(pid);
        var quiet = 0;
        while (sw.Elapsed < timeout && (quiet < 2 || sw.Elapsed < TimeSpan.FromSeconds(2)))
        {
            await Task.Delay(500);
            var now = RssKb(pid);
            quiet = now - last < last / 200 ? quiet + 1 : 0;
            last = now;
        }
    }

    /// <summary>
    /// A channel as a gateway client would have one, minus retries (no service config): the
    /// load measures the gateway, and a retried call would hide a failure. Several HTTP/2
    /// connections once the server's stream limit is reached (the idle test opens thousands).
    /// </summary>
    private static GrpcChannel CreateChannel(string url) => GrpcChannel.ForAddress(url, new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            UseProxy = false,
        },
        DisposeHttpClient = true,
    });

    private static async Task<double> WaitFor(HttpClient http, string metricsUrl, double target, TimeSpan timeout, bool atMost = false)
    {
        var sw = Stopwatch.StartNew();
        var value = 0.0;
        while (sw.Elapsed < timeout)
        {
            value = await StreamsInFlight(http, metricsUrl);
            if (atMost ? value <= target : value >= target)
            {
                return value;
            }

            await Task.Delay(100);
        }

        Console.Error.WriteLine($"loadgen: gateway_streams_in_flight stayed at {value}, wanted {(atMost ? "<=" : ">=")} {target}");
        return value;
    }

    private static void Emit(Options o, JsonObject row)
    {
        if (o.Get("target", null) is { } target)
        {
            row["target"] = target;
        }

        var line = row.ToJsonString();
        Console.WriteLine(line);
        if (o.Get("out", null) is { } path)
        {
            File.AppendAllText(path, line + "\n");
        }
    }
}

internal sealed class WorkerStats
{
    public List<long> Latency { get; } = new(100_000);
    public List<long> Ttft { get; } = new();
    public long Errors { get; set; }
    public long Chunks { get; set; }
    public string? LastError { get; set; }
}

internal sealed class Stats
{
    public List<long> Latency { get; } = new();
    public List<long> Ttft { get; } = new();
    public long Errors { get; set; }
    public long Chunks { get; set; }
    public double Seconds { get; set; }
    public string? LastError { get; set; }
    public long Count => Latency.Count;

    public void Merge(WorkerStats w)
    {
        Latency.AddRange(w.Latency);
        Ttft.AddRange(w.Ttft);
        Errors += w.Errors;
        Chunks += w.Chunks;
        LastError ??= w.LastError;
    }

    private static double Us(List<long> sorted, double q)
    {
        if (sorted.Count == 0)
        {
            return 0;
        }

        var i = (int)Math.Ceiling(q * sorted.Count) - 1;
        return Math.Round(sorted[Math.Clamp(i, 0, sorted.Count - 1)] * 1e6 / Stopwatch.Frequency, 1);
    }

    public JsonObject ToJson(string label, string tool, string url)
    {
        Latency.Sort();
        Ttft.Sort();
        var row = new JsonObject
        {
            ["label"] = label,
            ["tool"] = tool,
            ["url"] = url,
            ["requests"] = Count,
            ["errors"] = Errors,
            ["rps"] = Math.Round(Count / Seconds, 1),
            ["p50_us"] = Us(Latency, 0.50),
            ["p90_us"] = Us(Latency, 0.90),
            ["p99_us"] = Us(Latency, 0.99),
            ["p999_us"] = Us(Latency, 0.999),
        };
        if (Ttft.Count > 0)
        {
            row["ttft_p50_us"] = Us(Ttft, 0.50);
            row["ttft_p99_us"] = Us(Ttft, 0.99);
            row["chunks_per_stream"] = Math.Round(Chunks / (double)Ttft.Count, 1);
        }

        if (LastError is not null)
        {
            row["last_error"] = LastError;
        }

        return row;
    }
}

internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static Options Parse(ReadOnlySpan<string> args)
    {
        var o = new Options();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith('-') || i + 1 >= args.Length)
            {
                throw new ArgumentException($"expected '--name value', got '{args[i]}'");
            }

            o._values[args[i].TrimStart('-')] = args[++i];
        }

        return o;
    }

    public string Required(string name) => _values.TryGetValue(name, out var v) ? v : throw new ArgumentException($"--{name} is required");

    public string? Get(string name, string? fallback) => _values.TryGetValue(name, out var v) ? v : fallback;

    public int Int(string name, int fallback) => _values.TryGetValue(name, out var v)
        ? int.TryParse(v, CultureInfo.InvariantCulture, out var n) ? n : throw new ArgumentException($"--{name}: '{v}' is not an integer")
        : fallback;

    public double Double(string name, double fallback) => _values.TryGetValue(name, out var v)
        ? double.TryParse(v, CultureInfo.InvariantCulture, out var n) ? n : throw new ArgumentException($"--{name}: '{v}' is not a number")
        : fallback;
}
