using Gateway.Grpc.Server.Hosting;
using Gateway.Grpc.Server.Telemetry;
using Gateway.Grpc.Server.Tests.Infrastructure;

namespace Gateway.Grpc.Server.Tests;

/// <summary>The idle trim runs once per quiet spell, never while a call is in flight.</summary>
public sealed class IdleMemoryTrimTests
{
    [Fact]
    public async Task Trims_once_when_quiet_not_while_a_call_is_in_flight_and_again_after_new_traffic()
    {
        var fake = new FakeProvider();
        fake.Script("m1", Behavior.Ok(delayMs: 2500), Behavior.Ok());
        var config = new ConfigBuilder().Model("m", ["m1"]).Build();
        config["idleTrimSeconds"] = "1";
        await using var gateway = await GatewayHarness.StartAsync(config, fake);
        var trimmer = gateway.Service<IdleMemoryTrimmer>();
        var calls = gateway.Service<CompletionTelemetry>();

        // A slow call: in flight for 2.5 s, so ticks during it must not trim.
        var slow = gateway.CompleteAsync(GatewayHarness.Request("m"));
        await WaitUntil(() => calls.CallsInFlight == 1, TimeSpan.FromSeconds(5));
        var trimsBefore = trimmer.Trims;
        await Task.Delay(2000);
        Assert.Equal(1, calls.CallsInFlight);
        Assert.Equal(trimsBefore, trimmer.Trims);
        await slow;
        Assert.Equal(0, calls.CallsInFlight);

        // Quiet afterwards: one trim, and only one however long the quiet lasts.
        await WaitUntil(() => trimmer.Trims == trimsBefore + 1, TimeSpan.FromSeconds(10));
        await Task.Delay(2500);
        Assert.Equal(trimsBefore + 1, trimmer.Trims);

        // New traffic re-arms it.
        await gateway.CompleteAsync(GatewayHarness.Request("m"));
        await WaitUntil(() => trimmer.Trims == trimsBefore + 2, TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData("0", false)]
    [InlineData("1", true)]
    public async Task Zero_turns_it_off(string seconds, bool running)
    {
        var config = new ConfigBuilder().Model("m", ["m1"]).Build();
        config["idleTrimSeconds"] = seconds;
        await using var gateway = await GatewayHarness.StartAsync(config, new FakeProvider());
        var task = gateway.Service<IdleMemoryTrimmer>().ExecuteTask;
        Assert.NotNull(task);
        // ExecuteAsync runs on a pool thread: off, it returns at once; on, it loops until shutdown.
        await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(2)));
        Assert.Equal(!running, task.IsCompleted);
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(50);
        }
    }
}
