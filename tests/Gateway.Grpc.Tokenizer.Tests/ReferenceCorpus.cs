using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;

namespace Gateway.Grpc.Tokenizer.Tests;

/// <summary>One corpus entry and the ids the official tiktoken produced for it.</summary>
public sealed record ReferenceEntry(string Name, string Text, IReadOnlyDictionary<string, (int[] Ordinary, int[] Special)> Ids);

/// <summary>
/// Runs tests/tokenizer-reference/reference.js (the official tiktoken npm package, WASM) once per
/// test run and holds its output: expected ids of every corpus entry for both encodings.
/// Fails, never skips, when node or the npm package is missing.
/// </summary>
public sealed class ReferenceCorpus
{
    private static readonly Lazy<ReferenceCorpus> Instance = new(Load);

    private ReferenceCorpus(string tiktokenVersion, IReadOnlyList<ReferenceEntry> entries)
    {
        TiktokenVersion = tiktokenVersion;
        Entries = entries;
    }

    public static ReferenceCorpus Shared => Instance.Value;

    public string TiktokenVersion { get; }

    public IReadOnlyList<ReferenceEntry> Entries { get; }

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string ReferenceDirectory => Path.Combine(RepoRoot, "tests", "tokenizer-reference");

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.Grpc.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Gateway.Grpc.sln not found above {AppContext.BaseDirectory}.");
    }

    private static ReferenceCorpus Load()
    {
        var package = Path.Combine(ReferenceDirectory, "node_modules", "tiktoken", "package.json");
        if (!File.Exists(package))
        {
            throw new InvalidOperationException($"The reference tokenizer is not installed ({package} is missing). Run scripts/deps/tokenizer.sh (npm ci in tests/tokenizer-reference).");
        }

        var output = Path.Combine(Path.GetTempPath(), $"tokenizer-reference-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        try
        {
            RunNode(Path.Combine(ReferenceDirectory, "reference.js"), output);
            using var document = JsonDocument.Parse(File.ReadAllBytes(output));
            var root = document.RootElement;
            var entries = new List<ReferenceEntry>();
            foreach (var entry in root.GetProperty("entries").EnumerateArray())
            {
                var text = entry.TryGetProperty("units", out var units)
                    ? new string(units.EnumerateArray().Select(static u => (char)u.GetInt32()).ToArray())
                    : entry.GetProperty("text").GetString()!;
                var ids = new Dictionary<string, (int[] Ordinary, int[] Special)>(StringComparer.Ordinal);
                foreach (var encoding in entry.GetProperty("ids").EnumerateObject())
                {
                    ids[encoding.Name] = (ReadIds(encoding.Value.GetProperty("ordinary")), ReadIds(encoding.Value.GetProperty("special")));
                }

                entries.Add(new ReferenceEntry(entry.GetProperty("name").GetString()!, text, ids));
            }

            return new ReferenceCorpus(root.GetProperty("tiktoken").GetString()!, entries);
        }
        finally
        {
            File.Delete(output);
        }
    }

    private static int[] ReadIds(JsonElement array) => array.EnumerateArray().Select(static e => e.GetInt32()).ToArray();

    private static void RunNode(string script, string output)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = ReferenceDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(output);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("node did not start.");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException("The tokenizer reference needs node (Node 20+) on PATH; install it (scripts/deps/tokenizer.sh).", ex);
        }

        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"node {script} did not finish within 3 minutes.");
            }

            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"node {script} failed with exit code {process.ExitCode}: {stderr.Result}{stdout.Result}");
            }
        }
    }
}
