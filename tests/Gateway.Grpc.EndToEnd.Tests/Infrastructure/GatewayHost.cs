using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Gateway.Grpc.Server.Hosting;
using Gateway.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.EndToEnd.Tests.Infrastructure;

/// <summary>The real gateway host (<see cref="GatewayApp.Build"/>) on free loopback ports with a channel to it.</summary>
internal sealed class GatewayHost : IAsyncDisposable
{
    private bool _stopped;

    private GatewayHost(WebApplication app, Uri grpc)
    {
        App = app;
        Channel = GrpcChannel.ForAddress(grpc);
    }

    public WebApplication App { get; }

    public GrpcChannel Channel { get; }

    /// <summary>Starts a gateway; the store is in memory unless the config names one.</summary>
    public static async Task<GatewayHost> StartAsync(IDictionary<string, string?> config)
    {
        var overrides = new Dictionary<string, string?>(config)
        {
            ["grpcAddress"] = "127.0.0.1:0",
            ["httpAddress"] = "127.0.0.1:0",
        };
        overrides.TryAdd("logLevel", "Warning");
        overrides.TryAdd("store:kind", "memory");
        var app = GatewayApp.Build([], overrides);
        await app.StartAsync();
        // Kestrel reports bound addresses in Listen order: gRPC first, then HTTP.
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        return new GatewayHost(app, new Uri(addresses[0]));
    }

    public Task<CompletionResponse> CompleteAsync(CompletionRequest request, CallOptions options = default)
        => new Completion.CompletionClient(Channel).CompleteAsync(request, options).ResponseAsync;

    /// <summary>Completes and returns the failure (the call must fail).</summary>
    public async Task<RpcException> CompleteFailsAsync(CompletionRequest request, CallOptions options = default)
    {
        try
        {
            var response = await CompleteAsync(request, options);
            throw new Xunit.Sdk.XunitException($"Expected the call to fail; it returned: {response}");
        }
        catch (RpcException ex)
        {
            return ex;
        }
    }

    /// <summary>Reads a whole stream; returns the events and the final status (never throws for status).</summary>
    public async Task<StreamResult> StreamAsync(CompletionRequest request, CallOptions options = default)
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
            return new StreamResult(events, ex.Status, ex.Trailers);
        }

        return new StreamResult(events, call.GetStatus(), call.GetTrailers());
    }

    /// <summary>Stops the host gracefully (drains the ledger writer) without waiting for dispose.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        Channel.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }

    public ValueTask DisposeAsync() => new(StopAsync());
}

internal sealed record StreamResult(List<CompletionChunk> Events, Status Status, Metadata Trailers)
{
    public string Text => string.Concat(Events.Where(e => e.EventCase == CompletionChunk.EventOneofCase.Delta).Select(e => e.Delta.Text));

    public Usage? Usage => Events.LastOrDefault(e => e.EventCase == CompletionChunk.EventOneofCase.Usage)?.Usage;

    public Finish? Finish => Events.LastOrDefault(e => e.EventCase == CompletionChunk.EventOneofCase.Finish)?.Finish;

    public StreamError? Error => Events.LastOrDefault(e => e.EventCase == CompletionChunk.EventOneofCase.Error)?.Error;

    public string Describe() => $"status {Status.StatusCode} '{Status.Detail}', events: {string.Join(", ", Events.Select(e => e.EventCase))}";
}

/// <summary>Builds gateway configuration over simulator deployments.</summary>
internal sealed class GatewayConfig
{
    private readonly Dictionary<string, string?> _values = new();
    private int _models;

    /// <summary>
    /// A model group. By default: one attempt (tests that check retries raise it), fast backoff,
    /// no circuit breaker (so one test's failures never skip a deployment in the next call).
    /// </summary>
    public GatewayConfig Model(string name, Deployment[] deployments, Action<Dictionary<string, string?>, string>? extra = null)
    {
        var prefix = $"models:{_models++}:";
        _values[prefix + "name"] = name;
        for (var i = 0; i < deployments.Length; i++)
        {
            var d = deployments[i];
            var dp = $"{prefix}deployments:{i}:";
            _values[dp + "name"] = d.Name;
            _values[dp + "provider"] = d.Provider;
            _values[dp + "upstreamModel"] = d.UpstreamModel;
            if (d.InputCostPerMillion > 0)
            {
                _values[dp + "inputCostPerMillion"] = d.InputCostPerMillion.ToString(CultureInfo.InvariantCulture);
                _values[dp + "outputCostPerMillion"] = d.OutputCostPerMillion.ToString(CultureInfo.InvariantCulture);
            }

            foreach (var (key, value) in d.Settings)
            {
                _values[dp + "settings:" + key] = value;
            }
        }

        _values[prefix + "retry:maxAttempts"] = "1";
        _values[prefix + "retry:baseDelayMs"] = "10";
        _values[prefix + "retry:maxDelayMs"] = "50";
        _values[prefix + "circuitBreaker:enabled"] = "false";
        extra?.Invoke(_values, prefix);
        return this;
    }

    public GatewayConfig Set(string key, string? value)
    {
        _values[key] = value;
        return this;
    }

    public Dictionary<string, string?> Build() => _values;
}
