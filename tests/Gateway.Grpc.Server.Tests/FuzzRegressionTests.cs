using Gateway.Grpc.Server.Tests.Infrastructure;

namespace Gateway.Grpc.Server.Tests;

/// <summary>
/// Every input a fuzzing run kept (tests/fuzz/regressions/TARGET, crashes found by
/// scripts/fuzz.sh) and every seed (tests/fuzz/corpus/TARGET) replayed through the same fuzz
/// targets, uninstrumented: a parser that crashes on any of them again fails here.
/// </summary>
public sealed class FuzzRegressionTests
{
    [Theory]
    [InlineData("openai-request")]
    [InlineData("sse-openai")]
    [InlineData("sse-anthropic")]
    [InlineData("sse-gemini")]
    [InlineData("config-yaml")]
    public async Task SavedInputs_ReplayWithoutACrash(string target)
    {
        var harness = Path.Combine(ExternalProcess.RepoRoot, "tests", "fuzz", "Gateway.Grpc.Fuzz", "bin", "Release", "net10.0", "Gateway.Grpc.Fuzz.dll");
        Assert.True(File.Exists(harness), $"build the solution first ({harness} is missing)");
        foreach (var folder in new[] { "corpus", "regressions" })
        {
            var inputs = Path.Combine(ExternalProcess.RepoRoot, "tests", "fuzz", folder, target);
            if (!Directory.Exists(inputs))
            {
                Assert.Equal("regressions", folder); // every target has seeds
                continue;
            }

            var (exit, output) = await ExternalProcess.RunAsync("dotnet", [harness, "replay", target, inputs], TimeSpan.FromMinutes(2));
            Assert.True(exit == 0, output);
            Assert.Contains("OK " + target, output, StringComparison.Ordinal);
        }
    }
}
