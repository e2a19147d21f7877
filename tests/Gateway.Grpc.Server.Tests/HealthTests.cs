using Gateway.Grpc.Server.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Gateway.Grpc.Server.Tests;

/// <summary>grpc.health.v1 (Grpc.AspNetCore.HealthChecks): the gateway's entries and one per deployment, driven by its circuit.</summary>
public sealed class HealthTests
{
    [Fact]
    public async Task Check_GatewayAndServicesServing_UnknownServiceNotFound()
    {
        await using var gateway = await GatewayHarness.StartAsync(new ConfigBuilder().Model("m", ["d1"]).Build(), new FakeProvider());
        var health = new Health.HealthClient(gateway.Channel);

        foreach (var service in new[] { "", "gateway.v1.Completion", "gateway.v1.Models", "gateway.admin.v1.AdminService", "deployment/d1" })
        {
            Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest { Service = service })).Status);
        }

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await health.CheckAsync(new HealthCheckRequest { Service = "no.such.Service" }));
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
    }

    [Fact]
    public async Task DeploymentEntry_FollowsItsCircuit_CheckAndWatch()
    {
        var (gateway, fake, clock) = await CircuitScenario.StartAsync();
        await using var _ = gateway;
        var health = new Health.HealthClient(gateway.Channel);
        using var watchCts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var watch = health.Watch(new HealthCheckRequest { Service = "deployment/bad" }, cancellationToken: watchCts.Token);

        // Watch sends the current status at once.
        Assert.True(await watch.ResponseStream.MoveNext(watchCts.Token));
        Assert.Equal(ServingStatus.Serving, watch.ResponseStream.Current.Status);

        // Failures open the circuit of "bad" (each failed attempt is retried on "good").
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal("good", (await gateway.CompleteAsync(GatewayHarness.Request("m"))).Routing.Deployment);
        }

        Assert.True(await watch.ResponseStream.MoveNext(watchCts.Token));
        Assert.Equal(ServingStatus.NotServing, watch.ResponseStream.Current.Status);
        Assert.Equal(ServingStatus.NotServing, (await health.CheckAsync(new HealthCheckRequest { Service = "deployment/bad" })).Status);
        Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest { Service = "deployment/good" })).Status);
        Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest { Service = "" })).Status);

        // Healed: once the break is over a half-open probe succeeds and the circuit closes; Watch hears it.
        fake.Script("bad", Behavior.Ok());
        clock.Advance(CircuitScenario.BreakDuration);
        for (var i = 0; i < 4; i++)
        {
            await gateway.CompleteAsync(GatewayHarness.Request("m"));
        }

        var status = ServingStatus.NotServing;
        while (status != ServingStatus.Serving && await watch.ResponseStream.MoveNext(watchCts.Token))
        {
            status = watch.ResponseStream.Current.Status;
        }

        Assert.Equal(ServingStatus.Serving, status);
        Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest { Service = "deployment/bad" })).Status);
    }
}
