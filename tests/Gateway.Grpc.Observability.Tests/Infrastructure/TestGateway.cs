using Gateway.Grpc.Adapters;
using Grpc.Core;
using Grpc.Net.Client;
using Gateway.Grpc.Server.Hosting;
using Gateway.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Observability.Tests.Infrastructure;

/// <summary>The real gateway on Kestrel on free loopback ports, a gRPC channel and an HTTP client to it.</summary>
internal sealed class TestGateway : IAsyncDisposable
{
    private bool _stopped;

    private TestGateway(WebApplication app, Uri grpc, Uri http)
    {
        App = app;
        GrpcAddress = grpc;
        HttpAddress = http;
        Channel = GrpcChannel.ForAddress(grpc);
        Http = new HttpClient { BaseAddress = http };
    }

    public WebApplication App { get; }

    public Uri GrpcAddress { get; }

    public Uri HttpAddress { get; }

    public GrpcChannel Channel { get; }

    public HttpClient Http { get; }

    public T Service<T>()
        where T : notnull => App.Services.GetRequiredService<T>();

    public static Task<TestGateway> StartAsync(IDictionary<string, string?>? config = null, params IProviderAdapter[] adapters)
        => StartAsync(config, null, adapters);

    public static async Task<TestGateway> StartAsync(IDictionary<string, string?>? config, Action<IServiceCollection>? configureServices, params IProviderAdapter[] adapters)
    {
        var overrides = new Dictionary<string, string?>(config ?? new Dictionary<string, string?>())
        {
            ["grpcAddress"] = "127.0.0.1:0",
            ["httpAddress"] = "127.0.0.1:0",
        };
        overrides.TryAdd("logLevel", "Warning");
        var app = GatewayApp.Build([], overrides, configureServices, adapters);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        // Kestrel reports bound addresses in Listen order: gRPC first, then HTTP.
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        return new TestGateway(app, new Uri(addresses[0]), new Uri(addresses[1]));
    }

    public Task<CompletionResponse> CompleteAsync(CompletionRequest request, CallOptions options = default)
        => new Completion.CompletionClient(Channel).CompleteAsync(request, options).ResponseAsync;

    /// <summary>Reads a whole stream; returns the events and the final status (never throws for status).</summary>
    public async Task<(List<CompletionChunk> Events, Status Status)> StreamAsync(CompletionRequest request, CallOptions options = default)
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
            return (events, ex.Status);
        }

        return (events, call.GetStatus());
    }

    public Task<string> ScrapeAsync() => Http.GetStringAsync("/metrics");

    public static CompletionRequest Request(string model, string content = "Hello there")
        => new() { Model = model, Messages = { new Message { Role = Role.User, Content = content } } };

    /// <summary>Stops the host (flushing exporters and logs) before the test inspects what they wrote.</summary>
    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Channel.Dispose();
        await StopAsync();
    }
}

/// <summary>Configuration for model groups served by the scripted provider.</summary>
internal static class TestModels
{
    public static Dictionary<string, string?> Config(params (string Model, string[] Deployments, string[]? Fallbacks)[] models)
    {
        var values = new Dictionary<string, string?>();
        for (var m = 0; m < models.Length; m++)
        {
            var prefix = $"models:{m}:";
            values[prefix + "name"] = models[m].Model;
            values[prefix + "retry:baseDelayMs"] = "1";
            values[prefix + "retry:maxDelayMs"] = "5";
            for (var d = 0; d < models[m].Deployments.Length; d++)
            {
                values[$"{prefix}deployments:{d}:name"] = models[m].Deployments[d];
                values[$"{prefix}deployments:{d}:provider"] = ScriptedProvider.Name;
                values[$"{prefix}deployments:{d}:inputCostPerMillion"] = "1";
                values[$"{prefix}deployments:{d}:outputCostPerMillion"] = "2";
            }

            for (var f = 0; f < (models[m].Fallbacks?.Length ?? 0); f++)
            {
                values[$"{prefix}fallbacks:{f}"] = models[m].Fallbacks![f];
            }
        }

        return values;
    }
}
