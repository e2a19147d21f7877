using System.Diagnostics;
using System.Text;

namespace Gateway.Grpc.Simulator.Tests;

/// <summary>Runs node / npm for the SDK fidelity scripts; a missing tool fails with a message saying how to install it.</summary>
internal static class NodeTool
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string FidelityDirectory => Path.Combine(RepoRoot, "tests", "sdk-fidelity");

    /// <summary>Installs the pinned SDKs (npm ci) unless node_modules is already there.</summary>
    public static async Task EnsureSdksInstalledAsync()
    {
        await InstallGate.WaitAsync();
        try
        {
            if (Directory.Exists(Path.Combine(FidelityDirectory, "node_modules", "openai"))
                && Directory.Exists(Path.Combine(FidelityDirectory, "node_modules", "@anthropic-ai", "sdk"))
                && Directory.Exists(Path.Combine(FidelityDirectory, "node_modules", "@google", "genai")))
            {
                return;
            }

            var (code, output) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], FidelityDirectory, TimeSpan.FromMinutes(5));
            Assert.True(code == 0, $"npm ci in {FidelityDirectory} failed ({code}):\n{output}");
        }
        finally
        {
            InstallGate.Release();
        }
    }

    public static async Task<(int ExitCode, string Output)> RunAsync(string tool, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(tool)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {tool}.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Assert.Fail($"'{tool}' is not installed or not on PATH ({ex.Message}). Install Node.js 20+ with npm (scripts/deps/simulator.sh does it).");
            throw;
        }

        using (process)
        {
            var output = new StringBuilder();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"{tool} {string.Join(' ', start.ArgumentList)} did not finish within {timeout}.\n{await stdout}\n{await stderr}");
            }

            output.Append(await stdout).Append(await stderr);
            return (process.ExitCode, output.ToString());
        }
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.Grpc.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Could not find Gateway.Grpc.sln above " + AppContext.BaseDirectory);
    }
}
