using Gateway.Grpc.Adapters;
using Grpc.Core;
using Grpc.Net.Client;
using Gateway.Grpc.Server.Hosting;
using Gateway.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Server.Tests.Infrastructure;

/// <summary>The real gateway on Kestrel on free loopback ports, with a gRPC channel to it.</summary>
internal sealed class GatewayHarness : IAsyncDisposable
{
    private GatewayHarness(WebApplication app, Uri grpc, Uri http)
    {
        App = app;
        GrpcAddress = grpc;
        HttpAddress = http;
        Channel = GrpcChannel.ForAddress(grpc);
    }

    public WebApplication App { get; }

    public Uri GrpcAddress { get; }

    public Uri HttpAddress { get; }

    public GrpcChannel Channel { get; }

    public T Service<T>()
        where T : notnull => App.Services.GetRequiredService<T>();

    public static Task<GatewayHarness> StartAsync(IDictionary<string, string?> config, params IProviderAdapter[] adapters)
        => StartAsync(config, configureServices: null, adapters);

    /// <summary>Starts the gateway with services replaced after its own registrations (fault injection).</summary>
    public static async Task<GatewayHarness> StartAsync(IDictionary<string, string?> config, Action<IServiceCollection>? configureServices, params IProviderAdapter[] adapters)
    {
        var overrides = new Dictionary<string, string?>(config)
        {
            ["grpcAddress"] = "127.0.0.1:0",
            ["httpAddress"] = "127.0.0.1:0",
        };
        overrides.TryAdd("logLevel", "Warning");
        overrides.TryAdd("store:kind", "memory");
        var app = GatewayApp.Build([], overrides, configureServices, adapters);
        await app.StartAsync();
        // Kestrel reports bound addresses in Listen order: gRPC first, then HTTP.
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        return new GatewayHarness(app, new Uri(addresses[0]), new Uri(addresses[1]));
    }

    public Task<CompletionResponse> CompleteAsync(CompletionRequest request, CallOptions options = default)
        => new Completion.CompletionClient(Channel).CompleteAsync(request, options).ResponseAsync;

    /// <summary>Reads a whole stream; returns the events and the final status (never throws for status).</summary>
    public async Task<(List<CompletionChunk> Events, Status Status, Metadata Trailers)> StreamAsync(CompletionRequest request, CallOptions options = default)
    {
        using var call = new Completion.CompletionClient(Channel).StreamComplete(request, options);
        var events = new List<CompletionChunk>();
        try
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                events.Add(call.ResponseStream.Current);
            }
        }
        catch (RpcException ex)
        {
            return (events, ex.Status, ex.Trailers);
        }

        return (events, call.GetStatus(), call.GetTrailers());
    }

    public static CompletionRequest Request(string model, int? maxTokens = null)
    {
        var request = new CompletionRequest { Model = model, Messages = { new Message { Role = Role.User, Content = "Hello there" } } };
        if (maxTokens is { } m)
        {
            request.MaxTokens = m;
        }

        return request;
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>Builds configuration dictionaries for model groups over the fake provider.</summary>
internal sealed class ConfigBuilder
{
    private readonly Dictionary<string, string?> _values = new();
    private int _models;

    public ConfigBuilder Model(string name, string[] deployments, Action<Dictionary<string, string?>, string>? extra = null)
    {
        var prefix = $"models:{_models++}:";
        _values[prefix + "name"] = name;
        for (var i = 0; i < deployments.Length; i++)
        {
            _values[$"{prefix}deployments:{i}:name"] = deployments[i];
            _values[$"{prefix}deployments:{i}:provider"] = "fake";
        }

        // Fast retries by default so tests stay quick; tests that check backoff set their own.
        _values[prefix + "retry:baseDelayMs"] = "10";
        _values[prefix + "retry:maxDelayMs"] = "50";
        extra?.Invoke(_values, prefix);
        return this;
    }

    public Dictionary<string, string?> Build() => _values;
}

/// <summary>
/// Model "m" over deployment "bad" (every call a server error) and "good": with two attempts per
/// call and a breaker that opens after 4 calls at 50% failures for <see cref="BreakDuration"/>,
/// eight calls open the circuit of "bad" while every call is served by "good". The gateway runs
/// on a <see cref="ManualTimeProvider"/>: the break ends only when the test moves the clock
/// (retries do not wait, so nothing else needs the clock to move).
/// </summary>
internal static class CircuitScenario
{
    public static readonly TimeSpan BreakDuration = TimeSpan.FromMilliseconds(800);

    /// <param name="bad">What calls to "bad" do (default: every call a server error).</param>
    public static async Task<(GatewayHarness Gateway, FakeProvider Fake, ManualTimeProvider Clock)> StartAsync(params Behavior[] bad)
    {
        var fake = new FakeProvider();
        fake.Script("bad", bad.Length > 0 ? bad : [Behavior.Error(ProviderErrorKind.ServerError)]);
        fake.Script("good", Behavior.Ok());
        var config = new ConfigBuilder().Model("m", ["bad", "good"], (c, p) =>
        {
            c[p + "retry:maxAttempts"] = "2";
            c[p + "retry:baseDelayMs"] = "0";
            c[p + "retry:maxDelayMs"] = "0";
            c[p + "circuitBreaker:minimumThroughput"] = "4";
            c[p + "circuitBreaker:failureRatio"] = "0.5";
            c[p + "circuitBreaker:breakDurationMs"] = BreakDuration.TotalMilliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }).Build();
        var clock = new ManualTimeProvider();
        return (await GatewayHarness.StartAsync(config, services => services.AddSingleton<TimeProvider>(clock), fake), fake, clock);
    }
}
