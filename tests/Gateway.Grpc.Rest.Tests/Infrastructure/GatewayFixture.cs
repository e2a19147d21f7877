using Gateway.Grpc.Adapters.Simulated;
using Gateway.Grpc.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Rest.Tests.Infrastructure;

/// <summary>
/// The gateway as <c>dotnet run --project src/Server</c> runs it (embedded default: sim-small,
/// sim-large), in-process on free loopback ports. gRPC and HTTP listen on different loopback
/// addresses so both can use port 0 and still be told apart.
/// </summary>
public class GatewayFixture : IAsyncLifetime
{
    private const string GrpcHost = "127.0.0.2";
    private const string HttpHost = "127.0.0.1";
    private WebApplication? _app;

    public Uri HttpBase { get; private set; } = null!;

    /// <summary>host:port of the h2c gRPC endpoint.</summary>
    public string GrpcTarget { get; private set; } = null!;

    public IServiceProvider Services => _app!.Services;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public SimulatorStats SimulatorStats => Services.GetRequiredService<SimulatedProvider>().Stats;

    protected virtual Action<IServiceCollection>? ConfigureServices => null;

    /// <summary>Extra configuration for a fixture (models, routing policy).</summary>
    protected virtual IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>();

    public async Task InitializeAsync()
    {
        var overrides = new Dictionary<string, string?>
        {
            ["grpcAddress"] = GrpcHost + ":0",
            ["httpAddress"] = HttpHost + ":0",
            ["store:kind"] = "memory",
            ["logLevel"] = "Warning",
        };
        foreach (var (key, value) in Configuration)
        {
            overrides[key] = value;
        }

        _app = GatewayApp.Build([], overrides, ConfigureServices);
        await _app.StartAsync();
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        foreach (var address in addresses)
        {
            var uri = new Uri(address);
            if (uri.Host == GrpcHost)
            {
                GrpcTarget = $"{GrpcHost}:{uri.Port}";
            }
            else if (uri.Host == HttpHost)
            {
                HttpBase = new Uri($"http://{HttpHost}:{uri.Port}");
            }
        }

        Assert.True(GrpcTarget is not null && HttpBase is not null, "bound addresses not found: " + string.Join(", ", addresses));
        Http.BaseAddress = HttpBase;
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    /// <summary>Waits until the simulator has no generation running (tests in a collection run one after another).</summary>
    public async Task WaitForIdleSimulatorAsync(TimeSpan timeout)
        => await Eventually.TrueAsync(() => SimulatorStats.Active == 0, timeout, "the simulator still has generations running");
}

[CollectionDefinition(Name)]
public sealed class GatewayCollection : ICollectionFixture<GatewayFixture>
{
    public const string Name = "gateway";
}
