using System.Diagnostics;
using System.Text;

namespace Gateway.Grpc.Server.Tests.Infrastructure;

/// <summary>Runs a real non-.NET client (node, python) with a time limit, capturing its output.</summary>
internal static class ExternalProcess
{
    public static string RepoRoot { get; } = FindRoot();

    public static async Task<(int ExitCode, string Output)> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, string? workingDirectory = null)
    {
        if (!File.Exists(fileName) && !OnPath(fileName))
        {
            throw new InvalidOperationException($"'{fileName}' is not installed. Run the test command (./test.sh), which installs the test dependencies.");
        }

        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepoRoot,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} did not finish within {timeout}. Output so far:\n{output}");
        }

        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    public static void RequireNodeModules()
    {
        var modules = Path.Combine(RepoRoot, "tests", "interop", "node_modules", "@grpc", "grpc-js");
        if (!Directory.Exists(modules))
        {
            throw new InvalidOperationException("tests/interop/node_modules is missing: run ./test.sh (or scripts/test-deps.sh) to install it.");
        }
    }

    private static bool OnPath(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, name)));

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Gateway.Grpc.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (Gateway.Grpc.sln).");
    }
}
