using Gateway.Grpc.Server.Pipeline;
using Gateway.Grpc.Server.Services;
using Gateway.Grpc.Server.Tests.Infrastructure;
using Gateway.V1;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Grpc.Health.V1;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gateway.Grpc.Server.Tests;

/// <summary>
/// The gRPC edge every service shares: <c>x-request-id</c> on every answer and a failure that is
/// not an RpcException answered INTERNAL naming only the request id. gateway.v1.Completion is not
/// behind the interceptor (it applies the same edge inline), every other service is; both halves
/// are checked here, over a real HTTP/2 channel.
/// </summary>
public sealed class ServerEdgeTests
{
    private const string Secret = "adapter bug detail that must not reach the caller";

    private static CallOptions WithRequestId(string id) => new(headers: new Metadata { { "x-request-id", id } });

    [Fact]
    public async Task Complete_AdapterBug_InternalNamingTheRequestIdOnly()
    {
        var fake = new FakeProvider();
        fake.Script("d1", new Behavior { Throw = new InvalidOperationException(Secret) });
        await using var gateway = await GatewayHarness.StartAsync(new ConfigBuilder().Model("m", ["d1"]).Build(), fake);

        var call = new Completion.CompletionClient(gateway.Channel).CompleteAsync(GatewayHarness.Request("m"), WithRequestId("edge-unary-1"));
        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
        Assert.Contains("edge-unary-1", ex.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("edge-unary-1", (await call.ResponseHeadersAsync).GetValue("x-request-id"));
    }

    [Fact]
    public async Task StreamComplete_AdapterBug_InternalNamingTheRequestIdOnly()
    {
        var fake = new FakeProvider();
        fake.Script("d1", new Behavior { Throw = new InvalidOperationException(Secret) });
        await using var gateway = await GatewayHarness.StartAsync(new ConfigBuilder().Model("m", ["d1"]).Build(), fake);

        var (events, status, _) = await gateway.StreamAsync(GatewayHarness.Request("m"), WithRequestId("edge-stream-1"));

        Assert.Empty(events);
        Assert.Equal(StatusCode.Internal, status.StatusCode);
        Assert.Contains("edge-stream-1", status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_AnswersCarryTheCallersRequestId_OrAFreshOne()
    {
        await using var gateway = await GatewayHarness.StartAsync(new ConfigBuilder().Model("m", ["d1"]).Build(), new FakeProvider());
        var client = new Completion.CompletionClient(gateway.Channel);

        using var echoed = client.CompleteAsync(GatewayHarness.Request("m"), WithRequestId("edge-ok-1"));
        Assert.Equal("edge-ok-1", (await echoed.ResponseHeadersAsync).GetValue("x-request-id"));
        await echoed.ResponseAsync;

        using var fresh = client.CompleteAsync(GatewayHarness.Request("m"));
        Assert.StartsWith("cmpl-", (await fresh.ResponseHeadersAsync).GetValue("x-request-id"), StringComparison.Ordinal);
        await fresh.ResponseAsync;
    }

    [Fact]
    public async Task EveryMappedGrpcService_ButCompletion_HasTheInterceptor()
    {
        // The interceptor is registered per service (a global one would put its pipeline on
        // Completion too): a service mapped later without it fails here, not silently.
        await using var gateway = await GatewayHarness.StartAsync(new ConfigBuilder().Model("m", ["d1"]).Build(), new FakeProvider());
        var services = gateway.App.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .Select(e => e.Metadata.GetMetadata<GrpcMethodMetadata>()?.ServiceType)
            .OfType<Type>()
            .Distinct()
            .ToList();
        Assert.Contains(typeof(CompletionGrpcService), services);
        Assert.True(services.Count >= 6, $"expected Completion, Models, Admin, health and both reflection services, found {string.Join(", ", services.Select(t => t.Name))}");

        foreach (var service in services)
        {
            var optionsType = typeof(IOptions<>).MakeGenericType(typeof(GrpcServiceOptions<>).MakeGenericType(service));
            var options = (GrpcServiceOptions)optionsType.GetProperty(nameof(IOptions<object>.Value))!.GetValue(gateway.App.Services.GetRequiredService(optionsType))!;
            var intercepted = options.Interceptors.Count(i => i.Type == typeof(GatewayServerInterceptor));
            Assert.True(intercepted == (service == typeof(CompletionGrpcService) ? 0 : 1), $"{service.Name}: the interceptor is registered {intercepted} time(s)");
        }

        // And none globally, where grpc-dotnet would add it to every service, Completion included.
        Assert.Empty(gateway.App.Services.GetRequiredService<IOptions<GrpcServiceOptions>>().Value.Interceptors);
    }

    [Fact]
    public async Task OtherServices_AreBehindTheInterceptor_HealthReflectionModels()
    {
        await using var gateway = await GatewayHarness.StartAsync(new ConfigBuilder().Model("m", ["d1"]).Build(), new FakeProvider());

        // grpc.health.v1 (the library's service, found by name at start-up): a served check and a NOT_FOUND one.
        var health = new Health.HealthClient(gateway.Channel);
        using (var check = health.CheckAsync(new HealthCheckRequest(), WithRequestId("edge-health-1")))
        {
            Assert.Equal("edge-health-1", (await check.ResponseHeadersAsync).GetValue("x-request-id"));
            await check.ResponseAsync;
        }

        using (var missing = health.CheckAsync(new HealthCheckRequest { Service = "no.such.Service" }, WithRequestId("edge-health-2")))
        {
            Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => missing.ResponseAsync)).StatusCode);
            Assert.Equal("edge-health-2", (await missing.ResponseHeadersAsync).GetValue("x-request-id"));
        }

        // Server reflection, both versions.
        var v1 = new global::Grpc.Reflection.V1.ServerReflection.ServerReflectionClient(gateway.Channel);
        using (var call = v1.ServerReflectionInfo(WithRequestId("edge-reflection-v1")))
        {
            await call.RequestStream.WriteAsync(new global::Grpc.Reflection.V1.ServerReflectionRequest { ListServices = "" });
            await call.RequestStream.CompleteAsync();
            Assert.Equal("edge-reflection-v1", (await call.ResponseHeadersAsync).GetValue("x-request-id"));
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Contains(call.ResponseStream.Current.ListServicesResponse.Service, s => s.Name == "gateway.v1.Completion");
        }

        var v1alpha = new global::Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient(gateway.Channel);
        using (var call = v1alpha.ServerReflectionInfo(WithRequestId("edge-reflection-v1alpha")))
        {
            await call.RequestStream.WriteAsync(new global::Grpc.Reflection.V1Alpha.ServerReflectionRequest { ListServices = "" });
            await call.RequestStream.CompleteAsync();
            Assert.Equal("edge-reflection-v1alpha", (await call.ResponseHeadersAsync).GetValue("x-request-id"));
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        }

        // The gateway's own Models service.
        using var models = new Models.ModelsClient(gateway.Channel).ListModelsAsync(new ListModelsRequest(), WithRequestId("edge-models-1"));
        Assert.Equal("edge-models-1", (await models.ResponseHeadersAsync).GetValue("x-request-id"));
        Assert.Contains((await models.ResponseAsync).Models, m => m.Id == "m");
    }
}
