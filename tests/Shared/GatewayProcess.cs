using System.Diagnostics;
using System.Globalization;
using System.Text;
using Grpc.Net.Client;

namespace Gateway.Grpc.TestSupport;

/// <summary>
/// The gateway as an operating-system process: the built <c>Gateway.Grpc.Server.dll</c> under
/// <c>dotnet</c>, configured with command-line <c>--key value</c> pairs, on free loopback ports,
/// stopped the way an orchestrator stops it (SIGTERM, then it drains and exits by itself).
/// Linked into the test projects that start it (tests/Shared).
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    /// <summary>The exit code the gateway uses when it cannot bind its ports.</summary>
    private const int CannotBind = 3;

    private readonly Process _process;
    private readonly StringBuilder _output;

    private GatewayProcess(Process process, StringBuilder output, int grpcPort, int httpPort)
    {
        _process = process;
        _output = output;
        GrpcPort = grpcPort;
        HttpPort = httpPort;
        GrpcAddress = new Uri("http://127.0.0.1:" + grpcPort.ToString(CultureInfo.InvariantCulture));
        HttpAddress = new Uri("http://127.0.0.1:" + httpPort.ToString(CultureInfo.InvariantCulture));
        Channel = GrpcChannel.ForAddress(GrpcAddress);
        Http = new HttpClient { BaseAddress = HttpAddress, Timeout = TimeSpan.FromSeconds(5) };
    }

    public GrpcChannel Channel { get; }

    public Uri GrpcAddress { get; }

    public Uri HttpAddress { get; }

    /// <summary>A client of the HTTP port (5 s timeout).</summary>
    public HttpClient Http { get; }

    /// <summary>The process, for a test that signals it or waits for its exit itself.</summary>
    public Process Process => _process;

    public int GrpcPort { get; }

    public int HttpPort { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>SIGKILL, as a crashed node: no drain, no ledger flush.</summary>
    public void KillHard()
    {
        Kill(_process);
        _process.WaitForExit();
    }

    public int ProcessId => _process.Id;

    /// <summary>What the process printed so far (stdout and stderr).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Starts a gateway process and returns once it answers <c>/healthz</c>. <c>logLevel</c> is
    /// Warning unless <paramref name="config"/> sets it; <paramref name="workingDirectory"/> null
    /// inherits the test's; <paramref name="onLine"/>, when given, sees every line of output as
    /// it arrives.
    /// </summary>
    public static async Task<GatewayProcess> StartAsync(IDictionary<string, string?> config, string? workingDirectory = null, Action<string>? onLine = null)
    {
        // A free port found here can be taken by another process before the gateway binds it: try again then.
        for (var attempt = 1; ; attempt++)
        {
            var ports = LoopbackPort.Reserve(2);
            var (grpcPort, httpPort) = (ports[0], ports[1]);
            var output = new StringBuilder();
            var process = Launch(config, workingDirectory, grpcPort, httpPort, output, onLine);
            int? exited;
            try
            {
                exited = await WaitReadyAsync(process, httpPort, output);
            }
            catch
            {
                Kill(process);
                process.Dispose();
                throw;
            }

            if (exited is null)
            {
                return new GatewayProcess(process, output, grpcPort, httpPort);
            }

            process.Dispose();
            if (exited != CannotBind || attempt == 3)
            {
                throw new InvalidOperationException($"The gateway process exited with code {exited} before it was ready. Output:\n{Read(output)}");
            }
        }
    }

    /// <summary>Sends SIGTERM and waits for the process to exit by itself; returns its exit code.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
            await kill.WaitForExitAsync();
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                Kill(_process);
                throw new TimeoutException($"The gateway process did not exit within {timeout ?? TimeSpan.FromSeconds(60)} of SIGTERM. Output:\n{Output}");
            }
        }

        _process.WaitForExit();
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        Http.Dispose();
        if (!_process.HasExited)
        {
            try
            {
                await StopAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                // Killed by StopAsync.
            }
        }

        _process.Dispose();
    }

    private static Process Launch(IDictionary<string, string?> config, string? workingDirectory, int grpcPort, int httpPort, StringBuilder output, Action<string>? onLine)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Gateway.Grpc.Server.dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} is missing: the test project copies the gateway it references to its output.");
        }

        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        start.ArgumentList.Add(dll);
        var values = new Dictionary<string, string?>(config)
        {
            ["grpcAddress"] = "127.0.0.1:" + grpcPort.ToString(CultureInfo.InvariantCulture),
            ["httpAddress"] = "127.0.0.1:" + httpPort.ToString(CultureInfo.InvariantCulture),
        };
        values.TryAdd("logLevel", "Warning");
        foreach (var (key, value) in values)
        {
            if (value is not null)
            {
                start.ArgumentList.Add("--" + key);
                start.ArgumentList.Add(value);
            }
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Append(output, e.Data, onLine);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data, onLine);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Null once the process answers; its exit code if it exits first.</summary>
    private static async Task<int?> WaitReadyAsync(Process process, int httpPort, StringBuilder output)
    {
        using var http = new HttpClient { BaseAddress = new Uri("http://127.0.0.1:" + httpPort.ToString(CultureInfo.InvariantCulture)), Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (process.HasExited)
            {
                process.WaitForExit();
                return process.ExitCode;
            }

            try
            {
                using var response = await http.GetAsync("/healthz");
                if (response.IsSuccessStatusCode)
                {
                    return null;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The gateway process did not answer /healthz within 60 s. Output:\n{Read(output)}");
            }

            await Task.Delay(100);
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    private static void Append(StringBuilder output, string? line, Action<string>? onLine)
    {
        if (line is not null)
        {
            onLine?.Invoke(line);
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    private static string Read(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }
}
