using System.Diagnostics;
using System.Text;

namespace Gateway.Grpc.Tests.TestInfrastructure;

/// <summary>The outcome of a finished external process.</summary>
internal sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError, TimeSpan Elapsed)
{
    /// <summary>Everything the process printed, for assertion messages.</summary>
    public string Describe() => $"exit code {ExitCode} after {Elapsed.TotalMilliseconds:F0} ms\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
}

/// <summary>
/// Runs external tools (node, /usr/bin/python3) for the cross-implementation tests: output is
/// captured, and a process that outlives its timeout is killed with its children.
/// </summary>
internal static class ExternalProcess
{
    /// <summary>Runs a process to completion. Throws <see cref="TimeoutException"/> (with its output) when it overruns.</summary>
    public static async Task<ProcessResult> RunAsync(string fileName, IReadOnlyList<string> arguments, TimeSpan timeout, string? workingDirectory = null)
    {
        using var process = Create(fileName, arguments, workingDirectory);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data);
        var watch = Stopwatch.StartNew();
        Start(process);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            await process.WaitForExitAsync();
            throw new TimeoutException($"'{fileName} {string.Join(' ', arguments)}' did not finish within {timeout.TotalSeconds:F0} s and was killed.\n--- stdout ---\n{Read(stdout)}\n--- stderr ---\n{Read(stderr)}");
        }

        // The parameterless wait also drains the redirected output.
        await process.WaitForExitAsync();
        return new ProcessResult(process.ExitCode, Read(stdout), Read(stderr), watch.Elapsed);
    }

    /// <summary>
    /// Starts a long-running process and waits for the first stdout line starting with
    /// <paramref name="readyPrefix"/>; the rest of that line is returned with the handle.
    /// </summary>
    public static async Task<RunningProcess> StartAsync(string fileName, IReadOnlyList<string> arguments, string readyPrefix, TimeSpan timeout, string? workingDirectory = null)
    {
        var process = Create(fileName, arguments, workingDirectory);
        var running = new RunningProcess(process, readyPrefix);
        Start(process);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await running.WaitReadyAsync(timeout);
            return running;
        }
        catch
        {
            running.Dispose();
            throw;
        }
    }

    /// <summary>Finds an executable on PATH (or takes an absolute path); null when absent.</summary>
    public static string? FindExecutable(string name)
    {
        if (Path.IsPathRooted(name))
        {
            return File.Exists(name) ? name : null;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static Process Create(string fileName, IReadOnlyList<string> arguments, string? workingDirectory)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepoPaths.Root,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return new Process { StartInfo = info, EnableRaisingEvents = true };
    }

    private static void Start(Process process)
    {
        process.Start();
        // Tools must never wait on stdin.
        process.StandardInput.Close();
    }

    internal static void Kill(Process process)
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

    private static void Append(StringBuilder sb, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (sb)
        {
            sb.AppendLine(line);
        }
    }

    private static string Read(StringBuilder sb)
    {
        lock (sb)
        {
            return sb.ToString();
        }
    }
}

/// <summary>A started external process; disposing kills it (and its children).</summary>
internal sealed class RunningProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _readyPrefix;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RunningProcess(Process process, string readyPrefix)
    {
        _process = process;
        _readyPrefix = readyPrefix;
        process.OutputDataReceived += (_, e) => OnLine(e.Data, stdout: true);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data, stdout: false);
        process.Exited += (_, _) => _ready.TrySetException(new InvalidOperationException($"The process exited before printing '{_readyPrefix}'.\n{Output}"));
    }

    /// <summary>The rest of the ready line, e.g. the port after "LISTENING ".</summary>
    public string ReadyValue => _ready.Task.Result;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything printed so far (stdout and stderr interleaved).</summary>
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

    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        try
        {
            await _ready.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The process did not print '{_readyPrefix}' within {timeout.TotalSeconds:F0} s.\n{Output}");
        }
    }

    private void OnLine(string? line, bool stdout)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Append(stdout ? "[out] " : "[err] ").AppendLine(line);
        }

        if (stdout && line.StartsWith(_readyPrefix, StringComparison.Ordinal))
        {
            _ready.TrySetResult(line[_readyPrefix.Length..].Trim());
        }
    }

    public void Dispose()
    {
        ExternalProcess.Kill(_process);
        _process.WaitForExit(5000);
        _process.Dispose();
    }
}
