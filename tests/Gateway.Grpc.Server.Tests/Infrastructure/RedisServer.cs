using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Gateway.Grpc.Server.Tests.Infrastructure;

/// <summary>A real redis-server on a free loopback port, without persistence; killed on dispose.</summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private Process? _process;

    private RedisServer(int port)
    {
        Port = port;
    }

    public int Port { get; }

    public string Endpoint => "127.0.0.1:" + Port;

    public static async Task<RedisServer> StartAsync()
    {
        var server = NotStarted();
        await server.StartServerAsync();
        return server;
    }

    /// <summary>A reserved port with nothing listening yet, for "Redis comes up after the gateway" tests.</summary>
    public static RedisServer NotStarted() => new(FreePort());

    /// <summary>Starts the server on this port and returns once it accepts connections.</summary>
    public async Task StartServerAsync()
    {
        const string binary = "/usr/bin/redis-server";
        if (!File.Exists(binary))
        {
            throw new InvalidOperationException("redis-server is not installed: run ./test.sh (it runs scripts/deps/redis.sh) or apt-get install -y redis-server.");
        }

        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    public async Task StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process?.Dispose();
    }

    private static int FreePort()
    {
        return Gateway.Grpc.TestSupport.LoopbackPort.Reserve();
    }
}
