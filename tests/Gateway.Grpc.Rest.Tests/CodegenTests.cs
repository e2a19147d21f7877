using Gateway.Grpc.Rest.Tests.Infrastructure;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>The committed client code is exactly what protos/ generates, and the contract lints.</summary>
public sealed class CodegenTests
{
    private static readonly string[] GeneratedDirs =
    [
        "src/Clients/python/gen",
        "src/Clients/go/gen",
        "src/Clients/typescript/src/gen",
    ];

    [Fact]
    public async Task GeneratedClients_MatchProtos()
    {
        var bash = ExternalProcess.RequireTool("bash", "install bash");
        var root = ExternalProcess.RepoRoot;
        var temp = Path.Combine(Path.GetTempPath(), "gateway-codegen-" + Guid.NewGuid().ToString("N"));
        try
        {
            var result = await ExternalProcess.RunAsync(bash, [Path.Combine(root, "scripts", "generate-clients.sh"), "--out", temp], root, TimeSpan.FromMinutes(5));
            Assert.True(result.ExitCode == 0, "generation failed: " + result.Describe());
            var drift = new List<string>();
            foreach (var dir in GeneratedDirs)
            {
                var committed = Files(Path.Combine(root, dir));
                var fresh = Files(Path.Combine(temp, dir));
                drift.AddRange(committed.Keys.Except(fresh.Keys).Select(f => $"{dir}/{f}: committed but no longer generated"));
                drift.AddRange(fresh.Keys.Except(committed.Keys).Select(f => $"{dir}/{f}: generated but not committed"));
                drift.AddRange(committed.Keys.Intersect(fresh.Keys).Where(f => committed[f] != fresh[f]).Select(f => $"{dir}/{f}: differs from a fresh generation"));
            }

            Assert.True(drift.Count == 0, "Generated client code is out of date; run scripts/generate-clients.sh and commit:\n  " + string.Join("\n  ", drift));
        }
        finally
        {
            if (Directory.Exists(temp))
            {
                Directory.Delete(temp, recursive: true);
            }
        }
    }

    [Fact]
    public async Task BufLint_Passes()
    {
        ExternalProcess.RequireNodeModules("scripts/codegen", "@bufbuild/buf");
        var root = ExternalProcess.RepoRoot;
        var result = await ExternalProcess.RunAsync(Path.Combine(root, "scripts", "codegen", "node_modules", ".bin", "buf"), ["lint"], root, TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, "buf lint failed: " + result.Describe());
    }

    private static Dictionary<string, string> Files(string dir)
        => Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(dir, f).Replace('\\', '/'), File.ReadAllText, StringComparer.Ordinal)
            : [];
}
