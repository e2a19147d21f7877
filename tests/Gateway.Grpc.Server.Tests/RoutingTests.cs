using System.Globalization;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Tests.Infrastructure;
using Gateway.V1;
using Xunit.Abstractions;

namespace Gateway.Grpc.Server.Tests;

public sealed class RoutingTests(ITestOutputHelper output)
{
    private static ModelGroup CreateGroup(string strategy, params DeploymentOptions[] deployments)
    {
        var options = new ModelOptions { Name = "m", Strategy = strategy, Deployments = [.. deployments] };
        var fake = new FakeProvider();
        var runtimes = deployments.Select(d => new DeploymentRuntime(new DeploymentInfo(d.Name, "fake", "m"), fake, d, options.CircuitBreaker, TimeProvider.System, null)).ToArray();
        return new ModelGroup(options, runtimes, TimeProvider.System);
    }

    private static CallState NewState() => new(GatewayHarness.Request("m", maxTokens: 100), DateTime.MaxValue, TimeProvider.System, CancellationToken.None);

    [Fact]
    public void Weighted_PicksInProportionToWeights()
    {
        var group = CreateGroup(RoutingStrategies.Weighted, new DeploymentOptions { Name = "a", Weight = 3 }, new DeploymentOptions { Name = "b", Weight = 1 });
        var counts = new Dictionary<string, int> { ["a"] = 0, ["b"] = 0 };
        for (var i = 0; i < 4000; i++)
        {
            counts[RouteSelector.Choose(group, NewState())!.Info.Name]++;
        }

        Assert.InRange(counts["a"] / 4000.0, 0.70, 0.80);
    }

    [Fact]
    public void RoundRobin_Alternates()
    {
        var group = CreateGroup(RoutingStrategies.RoundRobin, new DeploymentOptions { Name = "a" }, new DeploymentOptions { Name = "b" });
        var picks = Enumerable.Range(0, 4).Select(_ => RouteSelector.Choose(group, NewState())!.Info.Name).ToArray();
        Assert.Equal(["a", "b", "a", "b"], picks);
    }

    [Fact]
    public void LeastInFlight_PicksTheIdlestDeployment()
    {
        var group = CreateGroup(RoutingStrategies.LeastInFlight, new DeploymentOptions { Name = "a" }, new DeploymentOptions { Name = "b" }, new DeploymentOptions { Name = "c" });
        group.Deployments[0].Enter();
        group.Deployments[0].Enter();
        group.Deployments[2].Enter();
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("b", RouteSelector.Choose(group, NewState())!.Info.Name);
        }
    }

    [Fact]
    public void LowestLatency_TriesUnmeasuredFirst_ThenFastestEwma()
    {
        var group = CreateGroup(RoutingStrategies.LowestLatency, new DeploymentOptions { Name = "a" }, new DeploymentOptions { Name = "b" });
        group.Deployments[0].RecordFirstToken(TimeSpan.FromMilliseconds(50));
        Assert.Equal("b", RouteSelector.Choose(group, NewState())!.Info.Name);

        group.Deployments[1].RecordFirstToken(TimeSpan.FromMilliseconds(400));
        Assert.Equal("a", RouteSelector.Choose(group, NewState())!.Info.Name);

        // EWMA follows change: "a" slows down persistently.
        for (var i = 0; i < 30; i++)
        {
            group.Deployments[0].RecordFirstToken(TimeSpan.FromMilliseconds(900));
        }

        Assert.Equal("b", RouteSelector.Choose(group, NewState())!.Info.Name);
    }

    [Fact]
    public void LowestCost_PicksCheapestForTheRequest()
    {
        var group = CreateGroup(
            RoutingStrategies.LowestCost,
            new DeploymentOptions { Name = "pricey", InputCostPerMillion = 5, OutputCostPerMillion = 15 },
            new DeploymentOptions { Name = "cheap", InputCostPerMillion = 0.15, OutputCostPerMillion = 0.6 });
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("cheap", RouteSelector.Choose(group, NewState())!.Info.Name);
        }
    }

    [Fact]
    public void PinnedDeployment_IsHonoured()
    {
        var group = CreateGroup(RoutingStrategies.RoundRobin, new DeploymentOptions { Name = "a" }, new DeploymentOptions { Name = "b" });
        var request = GatewayHarness.Request("m");
        request.Routing = new RoutingOptions { Deployment = "b" };
        var state = new CallState(request, DateTime.MaxValue, TimeProvider.System, CancellationToken.None);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("b", RouteSelector.Choose(group, state)!.Info.Name);
        }
    }

    /// <summary>
    /// The fault-rate run the issue asks for: the primary fails a seeded fraction of calls;
    /// two healthy fallbacks stand behind it. Reports success, retry and fallback hit rates.
    /// </summary>
    [Theory]
    [InlineData(0.05)]
    [InlineData(0.20)]
    [InlineData(0.50)]
    public async Task FaultRateRun_TwoHealthyFallbacks_AllSucceed(double faultRate)
    {
        var fake = new FakeProvider();
        fake.FaultRate("p1", faultRate, ProviderErrorKind.ServerError);
        var config = new ConfigBuilder()
            .Model("primary", ["p1"], (c, p) =>
            {
                c[p + "fallbacks:0"] = "backup1";
                c[p + "fallbacks:1"] = "backup2";
                c[p + "retry:maxAttempts"] = "2";
                c[p + "circuitBreaker:enabled"] = "false";
            })
            .Model("backup1", ["b1"])
            .Model("backup2", ["b2"])
            .Build();
        await using var gateway = await GatewayHarness.StartAsync(config, fake);

        const int requests = 200;
        int ok = 0, retried = 0, fellBack = 0;
        for (var i = 0; i < requests; i++)
        {
            var response = await gateway.CompleteAsync(GatewayHarness.Request("primary"));
            ok++;
            if (response.Routing.Attempts.Count(a => !a.Fallback) > 1)
            {
                retried++;
            }

            if (response.Routing.Attempts.Any(a => a.Fallback))
            {
                fellBack++;
            }
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fault rate {faultRate:P0}: success {ok * 100.0 / requests:0.0}%, retry rate {retried * 100.0 / requests:0.0}%, fallback hit rate {fellBack * 100.0 / requests:0.0}%"));
        Assert.Equal(requests, ok);
        Assert.True(retried > 0, "some requests must have needed a retry at this fault rate");
    }
}
