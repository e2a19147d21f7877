using System.Diagnostics;
using System.Text;

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

    /// <summary>
    /// A started server. Should its port be taken between being picked and being bound, it is
    /// started again on another one (three tries).
    /// </summary>
    public static async Task<RedisServer> StartAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            var server = NotStarted();
            try
            {
                await server.StartServerAsync();
                return server;
            }
            catch (InvalidOperationException ex) when (attempt < 3 && ex.Message.Contains("Address already in use", StringComparison.Ordinal))
            {
                await server.DisposeAsync();
            }
        }
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

        // Ready when redis-server says so on stdout: a connection that succeeds could also reach
        // some other process that holds the port (redis-server then exits with "Address already in use").
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new StringBuilder();
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(e.Data);
            }

            if (e.Data.Contains("Ready to accept connections", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            }
        };
        process.Exited += (_, _) =>
        {
            if (ready.Task.IsCompleted)
            {
                // Stopped or killed by the test after start-up: nothing to report (and the
                // process object may be disposed by now).
                return;
            }

            try
            {
                // Waits for the redirected output to reach its end, so the message holds redis-server's last words.
                process.WaitForExit();
            }
            catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
            {
            }

            lock (output)
            {
                ready.TrySetException(new InvalidOperationException("redis-server exited during start-up:\n" + output));
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            await StopAsync();
            lock (output)
            {
                throw new InvalidOperationException("redis-server did not become ready within 10 s:\n" + output);
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
