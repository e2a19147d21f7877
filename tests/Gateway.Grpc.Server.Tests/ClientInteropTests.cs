using Gateway.Grpc.Adapters.Simulated;
using Gateway.Grpc.Server.Tests.Infrastructure;

namespace Gateway.Grpc.Server.Tests;

/// <summary>
/// Real clients not written in C# against the gateway on its embedded default: grpc-js
/// (tests/interop/gateway-client.js, including buf curl via reflection) and Python grpcio
/// (tests/python/gateway_smoke.py, run with Debian's /usr/bin/python3).
/// </summary>
public sealed class ClientInteropTests
{
    [Theory]
    [InlineData("complete")]
    [InlineData("stream")]
    [InlineData("list_models")]
    [InlineData("deadline")]
    [InlineData("unimplemented")]
    [InlineData("over_limit")]
    [InlineData("unknown_model")]
    [InlineData("empty_messages")]
    [InlineData("compression")]
    [InlineData("health")]
    [InlineData("concurrent_streams")]
    [InlineData("reflection")]
    public async Task GrpcJs_GatewayContract(string testCase)
    {
        ExternalProcess.RequireNodeModules();
        await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?>());

        var (exit, output) = await ExternalProcess.RunAsync("node", ["tests/interop/gateway-client.js", "--server", gateway.GrpcAddress.Authority, "--cases", testCase], TimeSpan.FromMinutes(2));

        Assert.True(exit == 0, output);
        Assert.Contains("PASS " + testCase, output, StringComparison.Ordinal);
        // The server keeps serving after bad input.
        Assert.NotNull(await gateway.CompleteAsync(GatewayHarness.Request("sim-small", 4)));
    }

    [Fact]
    public async Task GrpcJs_CancelStream_StopsTheSimulatedProvidersWork()
    {
        ExternalProcess.RequireNodeModules();
        await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?>());
        var simulator = gateway.Service<SimulatedProvider>();

        var (exit, output) = await ExternalProcess.RunAsync("node", ["tests/interop/gateway-client.js", "--server", gateway.GrpcAddress.Authority, "--cases", "cancel"], TimeSpan.FromMinutes(2));
        Assert.True(exit == 0, output);

        // The client cancelled a 1000-token stream at 20 tokens/s after its first token: the
        // generation must have been stopped, not left running to the end.
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (simulator.Stats.Active > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        var stats = simulator.Stats;
        Assert.Equal(0, stats.Active);
        Assert.True(stats.Cancelled >= 1, $"stats: {stats}");
    }

    [Fact]
    public async Task PythonGrpcio_GatewayContract()
    {
        await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?>());

        var (exit, output) = await ExternalProcess.RunAsync("/usr/bin/python3", ["tests/python/gateway_smoke.py", "--server", gateway.GrpcAddress.Authority], TimeSpan.FromMinutes(3));

        Assert.True(exit == 0, output);
        Assert.Contains("9 passed, 0 failed", output, StringComparison.Ordinal);
    }
}
