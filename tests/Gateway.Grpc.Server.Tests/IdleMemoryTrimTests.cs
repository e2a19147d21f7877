using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Hosting;
using Gateway.Grpc.Server.Telemetry;
using Gateway.Grpc.Server.Tests.Infrastructure;
using Gateway.Grpc.Tokenizer.Chat;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Server.Tests;

/// <summary>
/// The idle trim runs once per quiet spell, never while a call is in flight. The gateway runs on a
/// <see cref="ManualTimeProvider"/>: each tick of the trimmer's timer is one step of the clock,
/// and the test waits until the trimmer has looked at it before asserting anything.
/// </summary>
public sealed class IdleMemoryTrimTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1) / 5;

    private static async Task<(GatewayHarness Gateway, ManualTimeProvider Clock)> StartAsync(string idleTrimSeconds, FakeProvider fake, string? tokenizerIdleSeconds = null)
    {
        var config = new ConfigBuilder().Model("m", ["m1"]).Build();
        config["idleTrimSeconds"] = idleTrimSeconds;
        if (tokenizerIdleSeconds is not null)
        {
            config["tokenizerIdleSeconds"] = tokenizerIdleSeconds;
        }

        var clock = new ManualTimeProvider();
        return (await GatewayHarness.StartAsync(config, services => services.AddSingleton<TimeProvider>(clock), fake), clock);
    }

    /// <summary>Moves the clock one tick at a time; after each, waits until the trimmer has decided on it.</summary>
    private static async Task TicksAsync(ManualTimeProvider clock, IdleMemoryTrimmer trimmer, int ticks)
    {
        for (var i = 0; i < ticks; i++)
        {
            var checks = trimmer.Checks;
            clock.Advance(Tick);
            await Poll.UntilAsync(() => trimmer.Checks > checks, "the trimmer looked at the tick");
        }
    }

    [Fact]
    public async Task Trims_once_when_quiet_not_while_a_call_is_in_flight_and_again_after_new_traffic()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fake = new FakeProvider();
        fake.Script("m1", new Behavior { Gate = release.Task }, Behavior.Ok());
        var (gateway, clock) = await StartAsync("1", fake);
        await using var _ = gateway;
        var trimmer = gateway.Service<IdleMemoryTrimmer>();
        var calls = gateway.Service<CompletionTelemetry>();
        await Poll.UntilAsync(() => clock.HasPeriodicTimer(Tick), "the trimmer's timer runs on the gateway's clock");

        // A call held in flight across ten ticks (twice the idle time): none of them trims.
        var slow = gateway.CompleteAsync(GatewayHarness.Request("m"));
        await Poll.UntilAsync(() => calls.CallsInFlight == 1, "the call is in flight");
        await TicksAsync(clock, trimmer, 10);
        Assert.Equal(1, calls.CallsInFlight);
        Assert.Equal(0, trimmer.Trims);
        release.SetResult();
        await slow;
        await Poll.UntilAsync(() => calls.CallsInFlight == 0, "the call ended on the gateway");

        // Quiet from the last tick that saw the call: the trim comes when a full idle time has
        // passed (the fifth tick), not before.
        await TicksAsync(clock, trimmer, 4);
        Assert.Equal(0, trimmer.Trims);
        await TicksAsync(clock, trimmer, 1);
        Assert.Equal(1, trimmer.Trims);

        // Only once however long the quiet lasts.
        await TicksAsync(clock, trimmer, 25);
        Assert.Equal(1, trimmer.Trims);

        // New traffic re-arms it: a full idle time after the tick that saw the call, it trims again.
        await gateway.CompleteAsync(GatewayHarness.Request("m"));
        await TicksAsync(clock, trimmer, 5);
        Assert.Equal(1, trimmer.Trims);
        await TicksAsync(clock, trimmer, 1);
        Assert.Equal(2, trimmer.Trims);
    }

    [Fact]
    public async Task A_longer_quiet_releases_the_tokenizer_tables_and_trims_again_and_counting_loads_them_back()
    {
        const string text = "The vocabulary comes back for the next count.";
        var counter = ChatTokenCounter.ForModel("gpt-4o");
        var count = counter.CountText(text);
        var (gateway, clock) = await StartAsync("1", new FakeProvider(), tokenizerIdleSeconds: "2");
        await using var _ = gateway;
        var trimmer = gateway.Service<IdleMemoryTrimmer>();
        await Poll.UntilAsync(() => clock.HasPeriodicTimer(Tick), "the trimmer's timer runs on the gateway's clock");

        // One idle time: the ordinary trim, the tables stay.
        await TicksAsync(clock, trimmer, 5);
        Assert.Equal((1, 0), (trimmer.Trims, trimmer.TokenizerReleases));

        // Two seconds quiet: the tables go and the heap is trimmed again to give them back.
        await TicksAsync(clock, trimmer, 4);
        Assert.Equal((1, 0), (trimmer.Trims, trimmer.TokenizerReleases));
        await TicksAsync(clock, trimmer, 1);
        Assert.Equal((2, 1), (trimmer.Trims, trimmer.TokenizerReleases));

        // Once a spell; the next count loads them back and counts the same.
        await TicksAsync(clock, trimmer, 20);
        Assert.Equal((2, 1), (trimmer.Trims, trimmer.TokenizerReleases));
        Assert.False(counter.IsEstimate);
        Assert.Equal(count, counter.CountText(text));

        // A call re-arms both.
        await gateway.CompleteAsync(GatewayHarness.Request("m"));
        await TicksAsync(clock, trimmer, 11);
        Assert.Equal((4, 2), (trimmer.Trims, trimmer.TokenizerReleases));
    }

    [Fact]
    public void Negative_seconds_are_refused_at_start_up_naming_the_key()
    {
        var models = new List<ModelOptions> { new() { Name = "m", Deployments = [new DeploymentOptions { Name = "m1", Provider = "openai" }] } };
        Assert.Empty(GatewayOptionsValidator.Validate(new GatewayOptions { Models = models, TokenizerIdleSeconds = 0 }, ["openai"]));
        var errors = GatewayOptionsValidator.Validate(new GatewayOptions { Models = models, IdleTrimSeconds = -1, TokenizerIdleSeconds = -5 }, ["openai"]);
        Assert.Contains(errors, e => e.StartsWith("idleTrimSeconds: must be 0 (off)", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("tokenizerIdleSeconds: must be 0 (keep the vocabularies loaded)", StringComparison.Ordinal) && e.Contains("-5", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Zero_turns_it_off()
    {
        var (gateway, clock) = await StartAsync("0", new FakeProvider());
        await using var _ = gateway;
        var task = gateway.Service<IdleMemoryTrimmer>().ExecuteTask;
        Assert.NotNull(task);

        // ExecuteAsync runs on a pool thread: off, it returns without a timer.
        await task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(clock.HasPeriodicTimer(Tick));
    }

    [Fact]
    public async Task One_keeps_it_running()
    {
        var (gateway, clock) = await StartAsync("1", new FakeProvider());
        await using var _ = gateway;
        var trimmer = gateway.Service<IdleMemoryTrimmer>();

        // On, it arms its timer and looks at every tick (the clock moves only here).
        await Poll.UntilAsync(() => clock.HasPeriodicTimer(Tick), "the trimmer's timer runs on the gateway's clock");
        await TicksAsync(clock, trimmer, 3);
        Assert.NotNull(trimmer.ExecuteTask);
        Assert.False(trimmer.ExecuteTask.IsCompleted);
    }

    /// <summary>
    /// The trim's second half, glibc's malloc_trim, binds and runs here (Linux with glibc), so the
    /// idle trim gives back the C heap's free pages too; elsewhere it reports that it did nothing.
    /// </summary>
    [Fact]
    public void NativeHeapTrim_RunsOnLinuxWithGlibc()
    {
        var glibc = OperatingSystem.IsLinux() && !Directory.EnumerateFiles("/lib", "ld-musl-*").Any();
        Assert.Equal(glibc, NativeHeapTrim.TryTrim());
        Assert.Equal(glibc, NativeHeapTrim.TryTrim());
    }
}
