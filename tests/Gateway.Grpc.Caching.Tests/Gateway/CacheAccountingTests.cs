using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.Observability.AccessLog;
using Gateway.V1;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Caching.Tests.Gateway;

/// <summary>A hit as the operators see it: access log, span, hit/miss and saved-cost metrics.</summary>
[Collection("EndToEnd")]
public sealed class CacheAccountingTests(SimulatorFixture sim) : IDisposable
{
    private const string Model = "m-accounting";
    private readonly string _logPath = Path.Combine(Path.GetTempPath(), "gateway-cache-access-" + Guid.NewGuid().ToString("N") + ".log");

    [Fact]
    public async Task Hit_IsInTheAccessLogSpanAndMetrics_WithTheCostSaved()
    {
        sim.Reset();
        var lookups = new Dictionary<string, long>();
        double saved = 0;
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == CacheMetrics.MeterName && instrument.Name.StartsWith("gateway.cache.", StringComparison.Ordinal))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "gateway.cache.lookups" && Tag(tags, "model") == Model)
            {
                lock (lookups)
                {
                    var result = Tag(tags, "result")!;
                    lookups[result] = lookups.GetValueOrDefault(result) + value;
                }
            }
        });
        meters.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "gateway.cache.saved_cost.usd" && Tag(tags, "model") == Model)
            {
                saved += value;
            }
        });
        meters.Start();

        var spans = new List<Activity>();
        using var activities = new ActivityListener
        {
            ShouldListenTo = static source => source.Name == "Gateway.Grpc",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.GetTagItem("gateway.cache_hit") is not null)
                {
                    lock (spans)
                    {
                        spans.Add(activity);
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(activities);

        var config = new GatewayConfig().Model(Model, [sim.Deployment("openai", "openai-acct")])
            .Set("cache:enabled", "true")
            .Set("accessLog:enabled", "true")
            .Set("accessLog:path", _logPath);
        await using var gateway = await GatewayHost.StartAsync(config.Build());
        var miss = await gateway.CompleteAsync(Requests.Chat(Model));
        var hit = await gateway.CompleteAsync(Requests.Chat(Model));
        Assert.Equal(CacheStatus.HitExact, hit.Routing.Cache.Status);

        await gateway.App.Services.GetRequiredService<IAccessLog>().FlushAsync();
        var logLines = (await File.ReadAllLinesAsync(_logPath)).Select(static l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();
        Assert.Equal(2, logLines.Length);
        Assert.False(logLines[0].GetProperty("cache_hit").GetBoolean());
        Assert.True(logLines[1].GetProperty("cache_hit").GetBoolean());
        Assert.Equal(0, logLines[1].GetProperty("cost_usd").GetDouble());

        Assert.Equal(1, lookups.GetValueOrDefault("miss"));
        Assert.Equal(1, lookups.GetValueOrDefault("hit_exact"));
        Assert.Equal(miss.Usage.CostUsd, saved, 9);

        // The host's Prometheus exposition carries the cache's series (the meter is the host's).
        var addresses = gateway.App.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.ToArray();
        using var http = new HttpClient { BaseAddress = new Uri(addresses[1]) };
        var exposition = await http.GetStringAsync("/metrics");
        var lines = exposition.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("gateway_cache_lookups_total{", StringComparison.Ordinal) && l.EndsWith($"model=\"{Model}\",result=\"hit_exact\"}} 1", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("gateway_cache_lookups_total{", StringComparison.Ordinal) && l.EndsWith($"model=\"{Model}\",result=\"miss\"}} 1", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("gateway_cache_saved_cost_usd_total{", StringComparison.Ordinal) && l.Contains($"model=\"{Model}\"", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("gateway_cache_stores_total{", StringComparison.Ordinal) && l.EndsWith($"model=\"{Model}\"}} 1", StringComparison.Ordinal));

        lock (spans)
        {
            var ours = spans.Where(s => Equals(s.GetTagItem("gateway.request_id"), hit.Id) || Equals(s.GetTagItem("gateway.request_id"), miss.Id)).ToArray();
            Assert.Contains(ours, s => Equals(s.GetTagItem("gateway.cache_hit"), true));
            Assert.Contains(ours, s => Equals(s.GetTagItem("gateway.cache_hit"), false));
        }
    }

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string name)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == name)
            {
                return tag.Value as string;
            }
        }

        return null;
    }

    public void Dispose()
    {
        if (File.Exists(_logPath))
        {
            File.Delete(_logPath);
        }
    }
}
