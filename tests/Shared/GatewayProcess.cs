using System.Diagnostics;
using System.Net;
using System.Text;

namespace Gateway.Grpc.TestSupport;

/// <summary>
/// The built gateway (<c>Gateway.Grpc.Server.dll</c>, which the test project copies to its output
/// by referencing src/Server) as its own process on free loopback ports, its console output
/// captured, started once <c>/readyz</c> answers 200. Disposing kills it if it still runs.
/// Linked into the test projects that start it (tests/Shared).
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    /// <summary>The exit code the gateway uses when it cannot bind its ports (src/Server/Program.cs).</summary>
    private const int CannotBind = 3;

    private readonly StringBuilder _log = new();
    private readonly Action<string>? _onLine;

    private GatewayProcess(Process process, int grpcPort, int httpPort, Action<string>? onLine)
    {
        Process = process;
        GrpcPort = grpcPort;
        HttpPort = httpPort;
        _onLine = onLine;
        GrpcAddress = new Uri($"http://127.0.0.1:{grpcPort}");
        HttpAddress = new Uri($"http://127.0.0.1:{httpPort}");
        Http = new HttpClient { BaseAddress = HttpAddress, Timeout = TimeSpan.FromSeconds(5) };
    }

    public Process Process { get; }

    public int GrpcPort { get; }

    public int HttpPort { get; }

    public Uri GrpcAddress { get; }

    public Uri HttpAddress { get; }

    /// <summary>A client of the HTTP port (5 s timeout).</summary>
    public HttpClient Http { get; }

    /// <summary>
    /// Starts the gateway with <c>--grpcAddress</c> and <c>--httpAddress</c> on free ports and
    /// <paramref name="arguments"/> after them, and waits up to 60 s for readiness. A port found
    /// free here can be taken by another process before the gateway binds it; the gateway then
    /// exits with <see cref="CannotBind"/> and is started again on other ports (three tries).
    /// <paramref name="onLine"/>, when given, sees every line of output as it arrives.
    /// </summary>
    public static async Task<GatewayProcess> StartAsync(IEnumerable<string> arguments, string? workingDirectory = null, Action<string>? onLine = null)
    {
        var server = Path.Combine(AppContext.BaseDirectory, "Gateway.Grpc.Server.dll");
        Assert.True(File.Exists(server), $"build the solution first ({server} is missing)");
        var rest = arguments.ToArray();
        for (var attempt = 1; ; attempt++)
        {
            var gateway = Launch(server, rest, workingDirectory, onLine);
            try
            {
                if (await gateway.WaitReadyAsync(lastAttempt: attempt == 3))
                {
                    return gateway;
                }
            }
            catch
            {
                await gateway.DisposeAsync();
                throw;
            }

            await gateway.DisposeAsync();
        }
    }

    /// <summary>What the process wrote to stdout and stderr so far.</summary>
    public string Log()
    {
        lock (_log)
        {
            return _log.ToString();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
        }

        Http.Dispose();
        Process.Dispose();
    }

    private static GatewayProcess Launch(string server, string[] arguments, string? workingDirectory, Action<string>? onLine)
    {
        var (grpcPort, httpPort) = FreePorts();
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }

        foreach (var argument in new[] { server, "--grpcAddress", $"127.0.0.1:{grpcPort}", "--httpAddress", $"127.0.0.1:{httpPort}" }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        var gateway = new GatewayProcess(Process.Start(start)!, grpcPort, httpPort, onLine);
        gateway.Process.OutputDataReceived += (_, e) => gateway.Append(e.Data);
        gateway.Process.ErrorDataReceived += (_, e) => gateway.Append(e.Data);
        gateway.Process.BeginOutputReadLine();
        gateway.Process.BeginErrorReadLine();
        return gateway;
    }

    /// <summary>True once <c>/readyz</c> answers 200; false if the process exited because its ports were taken.</summary>
    private async Task<bool> WaitReadyAsync(bool lastAttempt)
    {
        var up = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await Http.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode == HttpStatusCode.OK)
                {
                    return true;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }

            if (Process.HasExited)
            {
                await Process.WaitForExitAsync();
                if (Process.ExitCode == CannotBind && !lastAttempt)
                {
                    return false;
                }
            }

            Assert.True(DateTime.UtcNow < up && !Process.HasExited, "the gateway did not become ready:\n" + Log());
            await Task.Delay(100);
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        _onLine?.Invoke(line);
        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    private static (int Grpc, int Http) FreePorts()
    {
        var ports = LoopbackPort.Reserve(2);
        return (ports[0], ports[1]);
    }
}
