using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Gateway.Grpc.Server.Tests.Infrastructure;

/// <summary>
/// The built gateway (src/Server, Release) as its own process on free loopback ports, its console
/// output captured, started once <c>/readyz</c> answers 200. Disposing kills it if it still runs.
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    private readonly StringBuilder _log = new();

    private GatewayProcess(Process process, int grpcPort, int httpPort)
    {
        Process = process;
        GrpcPort = grpcPort;
        HttpPort = httpPort;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(5) };
    }

    public Process Process { get; }

    public int GrpcPort { get; }

    public int HttpPort { get; }

    /// <summary>A client of the HTTP port (5 s timeout).</summary>
    public HttpClient Http { get; }

    /// <summary>
    /// Starts the gateway with <c>--grpcAddress</c> and <c>--httpAddress</c> on free ports and
    /// <paramref name="arguments"/> after them, and waits up to 60 s for readiness.
    /// </summary>
    public static async Task<GatewayProcess> StartAsync(IEnumerable<string> arguments, string? workingDirectory = null)
    {
        var server = Path.Combine(ExternalProcess.RepoRoot, "src", "Server", "bin", "Release", "net10.0", "Gateway.Grpc.Server.dll");
        Assert.True(File.Exists(server), $"build the solution first ({server} is missing)");
        var grpcPort = FreePort();
        var httpPort = FreePort();
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

        var gateway = new GatewayProcess(Process.Start(start)!, grpcPort, httpPort);
        gateway.Process.OutputDataReceived += (_, e) => gateway.Append(e.Data);
        gateway.Process.ErrorDataReceived += (_, e) => gateway.Append(e.Data);
        gateway.Process.BeginOutputReadLine();
        gateway.Process.BeginErrorReadLine();
        try
        {
            var up = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                try
                {
                    if ((await gateway.Http.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode == HttpStatusCode.OK)
                    {
                        return gateway;
                    }
                }
                catch (HttpRequestException)
                {
                }

                Assert.True(DateTime.UtcNow < up && !gateway.Process.HasExited, "the gateway did not become ready:\n" + gateway.Log());
                await Task.Delay(100);
            }
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
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

    private void Append(string? line)
    {
        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
