using System.Net;
using System.Text.Json;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Adapters.Secrets;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Hosting;
using Gateway.Grpc.Server.Tests.Infrastructure;
using Gateway.Grpc.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gateway.Grpc.Server.Tests;

/// <summary>
/// Hosting: readiness that reflects the store, the ledger writer and Redis; migrations in a hosted
/// service; options through the options system; upstream HTTP clients from IHttpClientFactory.
/// </summary>
public sealed class HostingTests
{
    private static async Task<(HttpStatusCode Status, JsonElement Body)> ReadyzAsync(GatewayHarness gateway)
    {
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        using var response = await http.GetAsync(new Uri("/readyz", UriKind.Relative));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        return (response.StatusCode, body);
    }

    [Fact]
    public async Task Readyz_StoreAndLedgerHealthy_Ready()
    {
        await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?>());

        var (status, body) = await ReadyzAsync(gateway);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("healthy", body.GetProperty("status").GetString());
        Assert.Equal("healthy", body.GetProperty("checks").GetProperty("store").GetProperty("status").GetString());
        Assert.Equal("healthy", body.GetProperty("checks").GetProperty("ledger").GetProperty("status").GetString());
        Assert.False(body.GetProperty("checks").TryGetProperty("redis", out _));
    }

    [Theory]
    [InlineData("false", HttpStatusCode.ServiceUnavailable, "unhealthy")]
    [InlineData("true", HttpStatusCode.OK, "degraded")]
    public async Task Readyz_RedisDown_FollowsFailOpenOrFailClosed(string failOpen, HttpStatusCode expected, string redisStatus)
    {
        var redis = RedisServer.NotStarted();
        await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?>
        {
            ["rateLimits:backend"] = "redis",
            ["rateLimits:failOpen"] = failOpen,
            ["rateLimits:redis:endpoint"] = redis.Endpoint,
        });

        var (status, body) = await ReadyzAsync(gateway);

        Assert.Equal(expected, status);
        Assert.Equal(redisStatus, body.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString());
        Assert.Contains("Redis is not connected", body.GetProperty("checks").GetProperty("redis").GetProperty("description").GetString(), StringComparison.Ordinal);

        // Redis comes up: ready again, without a restart.
        await redis.StartAsync();
        await using var _r = redis;
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while ((await ReadyzAsync(gateway)).Body.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString() != "healthy")
        {
            Assert.True(DateTime.UtcNow < deadline, "readiness did not recover after Redis started");
            await Task.Delay(100);
        }

        Assert.Equal(HttpStatusCode.OK, (await ReadyzAsync(gateway)).Status);
    }

    [Fact]
    public async Task StoreMigration_RunsWhenTheHostStarts_NotWhileBuilding()
    {
        var directory = Directory.CreateTempSubdirectory("gw-hosting-");
        try
        {
            // A file where the store's directory should be: the store cannot be created.
            var blocker = Path.Combine(directory.FullName, "blocker");
            await File.WriteAllTextAsync(blocker, "not a directory");
            var app = GatewayApp.Build([], new Dictionary<string, string?>
            {
                ["grpcAddress"] = "127.0.0.1:0",
                ["httpAddress"] = "127.0.0.1:0",
                ["store:kind"] = "sqlite",
                ["store:path"] = Path.Combine(blocker, "gateway.db"),
            });
            await using var _a = app;

            var ex = await Assert.ThrowsAsync<GatewayConfigurationException>(() => app.StartAsync());
            Assert.Contains("store:path", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task StoreMigration_SqliteStore_ReadyAfterStart()
    {
        var directory = Directory.CreateTempSubdirectory("gw-hosting-");
        try
        {
            await using var gateway = await GatewayHarness.StartAsync(new Dictionary<string, string?>
            {
                ["store:kind"] = "sqlite",
                ["store:path"] = Path.Combine(directory.FullName, "gateway.db"),
            });
            Assert.True(gateway.Service<GovernanceStoreMigrator>().Completed);
            Assert.Equal(HttpStatusCode.OK, (await ReadyzAsync(gateway)).Status);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Options_BoundThroughTheOptionsSystem_WithTheGatewayValidator()
    {
        await using var gateway = await GatewayHarness.StartAsync(new ConfigBuilder().Model("m", ["d1"]).Build(), new FakeProvider());

        var options = gateway.Service<IOptions<GatewayOptions>>().Value;
        Assert.Same(options, gateway.Service<GatewayOptions>());
        Assert.Equal("m", Assert.Single(options.Models).Name);

        var validator = Assert.Single(gateway.App.Services.GetServices<IValidateOptions<GatewayOptions>>());
        var broken = new GatewayOptions { GrpcAddress = "not-an-address", Models = options.Models };
        var result = validator.Validate(null, broken);
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith("grpcAddress:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Secrets_OneResolver_ValidationAndEveryInjectedUserShareIt()
    {
        await using var gateway = await GatewayHarness.StartAsync(new ConfigBuilder().Model("m", ["d1"]).Build(), new FakeProvider());

        // The resolver that checked the configuration's secret references (and resolves the
        // store's and Redis's) is the one adapters and governance get injected: one file cache.
        var validation = Assert.IsType<GatewayOptionsValidation>(Assert.Single(gateway.App.Services.GetServices<IValidateOptions<GatewayOptions>>()));
        Assert.Same(validation.Secrets, gateway.Service<ISecretResolver>());
        Assert.Single(gateway.App.Services.GetServices<ISecretResolver>());
    }

    [Fact]
    public async Task UpstreamHttp_ProxyUrlSetting_SendsThroughTheProxy()
    {
        await using var proxy = await RecordingProxy.StartAsync();
        var config = new Dictionary<string, string?>
        {
            ["models:0:name"] = "m",
            ["models:0:deployments:0:name"] = "vllm-1",
            ["models:0:deployments:0:provider"] = "openai-compatible",
            // Not resolvable: only the proxy can reach it.
            ["models:0:deployments:0:settings:base_url"] = "http://vllm.gateway-test.invalid/v1",
            ["models:0:deployments:0:settings:proxy_url"] = proxy.Address,
        };
        await using var gateway = await GatewayHarness.StartAsync(config);

        var response = await gateway.CompleteAsync(GatewayHarness.Request("m"));

        Assert.Equal("proxied answer", response.Message.Content);
        var seen = Assert.Single(proxy.Requests);
        Assert.Equal("http://vllm.gateway-test.invalid/v1/chat/completions", seen);
    }

    [Fact]
    public async Task UpstreamHttp_NamedClientConfiguredThroughDI_CarriesTheCalls()
    {
        await using var proxy = await RecordingProxy.StartAsync();
        var counter = new CountingHandler();
        var config = new Dictionary<string, string?>
        {
            ["models:0:name"] = "m",
            ["models:0:deployments:0:name"] = "vllm-1",
            ["models:0:deployments:0:provider"] = "openai-compatible",
            ["models:0:deployments:0:settings:base_url"] = proxy.Address + "/v1",
        };
        await using var gateway = await GatewayHarness.StartAsync(
            config,
            services => services.AddHttpClient(UpstreamHttpClients.NameFor("vllm-1")).AddHttpMessageHandler(() => counter),
            []);

        await gateway.CompleteAsync(GatewayHarness.Request("m"));
        await gateway.CompleteAsync(GatewayHarness.Request("m"));

        Assert.Equal(2, counter.Count);
        Assert.Equal(2, proxy.Requests.Count);
    }

    private sealed class CountingHandler : DelegatingHandler
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>
    /// A Kestrel server that answers every request with an OpenAI chat completion and records the
    /// request target: absolute-form (http://host/path) when a client sent it as to a proxy.
    /// </summary>
    private sealed class RecordingProxy : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _requests = new();

        private RecordingProxy(WebApplication app) => _app = app;

        public string Address { get; private set; } = "";

        public IReadOnlyCollection<string> Requests => _requests.ToArray();

        public static async Task<RecordingProxy> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var proxy = new RecordingProxy(app);
            app.Run(async context =>
            {
                var target = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()!.RawTarget;
                proxy._requests.Enqueue(target);
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync("""
                    {"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
                     "choices":[{"index":0,"message":{"role":"assistant","content":"proxied answer"},"finish_reason":"stop"}],
                     "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}
                    """);
            });
            await app.StartAsync();
            proxy.Address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return proxy;
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
