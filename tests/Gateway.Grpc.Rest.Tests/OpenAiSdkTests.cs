using Gateway.Grpc.Rest.Tests.Infrastructure;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>The official openai npm SDK (tests/rest-sdk, pinned) against the REST API, only baseURL and apiKey set.</summary>
[Collection(GatewayCollection.Name)]
public sealed class OpenAiSdkTests(GatewayFixture gateway)
{
    [Theory]
    [InlineData("chat")]
    [InlineData("stream")]
    [InlineData("tools")]
    [InlineData("errors")]
    [InlineData("streamError")]
    [InlineData("models")]
    public async Task OpenAiSdk_Scenario_Passes(string scenario)
    {
        var node = ExternalProcess.RequireTool("node", "install Node.js 20 or newer");
        ExternalProcess.RequireNodeModules("tests/rest-sdk", "openai");
        var result = await ExternalProcess.RunAsync(
            node,
            ["sdk-check.mjs", new Uri(gateway.HttpBase, "/v1").ToString(), scenario],
            Path.Combine(ExternalProcess.RepoRoot, "tests", "rest-sdk"),
            TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, result.Describe());
        Assert.Contains("PASS " + scenario, result.Output, StringComparison.Ordinal);
    }
}
