namespace Gateway.Grpc.Simulator.Tests;

/// <summary>The official OpenAI, Anthropic and Google Gen AI SDKs parse what the simulator sends.</summary>
[Collection("Simulator")]
public sealed class SdkFidelityTests : IDisposable
{
    private readonly SimulatorFixture _sim;

    public SdkFidelityTests(SimulatorFixture sim)
    {
        _sim = sim;
        _sim.Reset();
    }

    public void Dispose() => _sim.Reset();

    [Theory]
    [InlineData("openai.mjs")]
    [InlineData("anthropic.mjs")]
    [InlineData("gemini.mjs")]
    public async Task OfficialSdk_AllChecksPass(string script)
    {
        await NodeTool.EnsureSdksInstalledAsync();

        var (code, output) = await NodeTool.RunAsync("node", [script, _sim.HttpAddress.ToString()], NodeTool.FidelityDirectory, TimeSpan.FromMinutes(2));

        Assert.True(code == 0, $"{script} exited {code}:\n{output}");
        Assert.Matches(@"(?m)^[1-9]\d* passed, 0 failed$", output);
        Assert.DoesNotContain("FAIL ", output, StringComparison.Ordinal);
    }
}
