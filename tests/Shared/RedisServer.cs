using System.Diagnostics;
using System.Text;

namespace Gateway.Grpc.TestSupport;

/// <summary>
/// A real redis-server on a free loopback port, without persistence, started and killed by the
/// test. Missing binary: the test fails with the install command (never skipped). Linked into the
/// test projects that use Redis (tests/Shared).
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private readonly string[] _extraArgs;
    private readonly string _directory;
    private Process? _process;

    private RedisServer(int port, string[] extraArgs)
    {
        Port = port;
        _extraArgs = extraArgs;
        _directory = Directory.CreateTempSubdirectory("redis-test-").FullName;
    }

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>
    /// A started server. Should its port be taken between being picked and being bound, it is
    /// started again on another one (three tries).
    /// </summary>
    public static async Task<RedisServer> StartAsync(params string[] extraArgs)
    {
        for (var attempt = 1; ; attempt++)
        {
            var server = new RedisServer(LoopbackPort.Reserve(), extraArgs);
            try
            {
                await server.StartAsync();
                return server;
            }
            catch (InvalidOperationException ex) when (attempt < 3 && ex.Message.Contains("Address already in use", StringComparison.Ordinal))
            {
                await server.DisposeAsync();
            }
        }
    }

    /// <summary>A server on a reserved port that is not started yet (for "Redis comes up later" tests).</summary>
    public static RedisServer NotStarted(params string[] extraArgs) => new(LoopbackPort.Reserve(), extraArgs);

    public static string FindBinary()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Append("/usr/bin").Append("/usr/sbin"))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            "redis-server is not installed, and these tests run against a real Redis. Install it with " +
            "'sudo apt-get install -y redis-server redis-tools' (or run scripts/deps/redis.sh), then rerun.");
    }

    /// <summary>(Re)starts the server on the same port and returns once it logs that it accepts connections.</summary>
    public async Task StartAsync()
    {
        var info = new ProcessStartInfo(FindBinary())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _directory,
        };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", _directory })
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var arg in _extraArgs)
        {
            info.ArgumentList.Add(arg);
        }

        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new StringBuilder();
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
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
            await ready.Task.WaitAsync(StartTimeout);
        }
        catch (TimeoutException)
        {
            Kill();
            throw new InvalidOperationException($"redis-server did not become ready within {StartTimeout}:\n{output}");
        }
    }

    /// <summary>SIGKILL: the kernel resets its connections, like a crashed server.</summary>
    public void Kill()
    {
        var process = _process;
        if (process is null)
        {
            return;
        }

        if (!process.HasExited)
        {
            process.Kill();
        }

        process.WaitForExit();
        process.Dispose();
        _process = null;
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }

        return ValueTask.CompletedTask;
    }
}
