using System.Diagnostics.Metrics;
using Gateway.Grpc.Caching.Exact;
using Gateway.Grpc.Caching.Semantic;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Grpc.Caching.Tests.Unit;

public sealed class MemoryExactCacheTests
{
    [Fact]
    public async Task Get_AfterTtl_Misses()
    {
        var time = new FakeTimeProvider();
        var cache = new MemoryExactCache(1 << 20, time);
        await cache.SetAsync("k", [1, 2, 3], TimeSpan.FromSeconds(10), default);

        time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(new byte[] { 1, 2, 3 }, await cache.GetAsync("k", default));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(await cache.GetAsync("k", default));
        Assert.Equal(0, cache.Count);
        Assert.Equal(0, cache.Bytes);
    }

    [Fact]
    public async Task Set_OverTheByteBound_EvictsLeastRecentlyUsed()
    {
        var time = new FakeTimeProvider();
        var entry = MemoryExactCache.SizeOf("k0", new byte[1000]);
        var cache = new MemoryExactCache(entry * 3, time);
        for (var i = 0; i < 3; i++)
        {
            await cache.SetAsync("k" + i, new byte[1000], TimeSpan.FromHours(1), default);
        }

        Assert.NotNull(await cache.GetAsync("k0", default)); // k0 is now the most recent; k1 the least.
        await cache.SetAsync("k3", new byte[1000], TimeSpan.FromHours(1), default);

        Assert.Null(await cache.GetAsync("k1", default));
        Assert.NotNull(await cache.GetAsync("k0", default));
        Assert.NotNull(await cache.GetAsync("k2", default));
        Assert.NotNull(await cache.GetAsync("k3", default));
        Assert.True(cache.Bytes <= cache.MaxBytes);
    }

    [Fact]
    public async Task Fill_ManyMoreThanFits_NeverPassesTheBound()
    {
        var time = new FakeTimeProvider();
        var cache = new MemoryExactCache(1 << 20, time);
        var random = new Random(1);
        for (var i = 0; i < 100_000; i++)
        {
            await cache.SetAsync("key-" + i, new byte[random.Next(10, 400)], TimeSpan.FromHours(1), default);
            if (i % 10_000 == 0)
            {
                Assert.True(cache.Bytes <= cache.MaxBytes, $"{cache.Bytes} > {cache.MaxBytes} after {i}");
            }
        }

        Assert.True(cache.Bytes <= cache.MaxBytes);
        Assert.InRange(cache.Count, 1000, 100_000);
        Assert.NotNull(await cache.GetAsync("key-99999", default));
        Assert.Null(await cache.GetAsync("key-0", default));
    }

    [Fact]
    public async Task Set_LargerThanTheWholeCache_IsNotStored()
    {
        var cache = new MemoryExactCache(2048, new FakeTimeProvider());
        await cache.SetAsync("big", new byte[4096], TimeSpan.FromHours(1), default);
        Assert.Null(await cache.GetAsync("big", default));
        Assert.Equal(0, cache.Bytes);
    }

    [Fact]
    public async Task SizeGauges_ReportTheMemoryBackendAndTheIndex()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var metrics = new CacheMetrics(factory);
        var time = new FakeTimeProvider();
        var cache = new MemoryExactCache(1 << 20, time);
        var index = new VectorIndex(100, time);
        metrics.ObserveSizes(cache, index);
        await cache.SetAsync("a", new byte[100], TimeSpan.FromHours(1), default);
        await cache.SetAsync("b", new byte[200], TimeSpan.FromHours(1), default);

        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name.StartsWith("gateway.cache.", StringComparison.Ordinal) && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => seen[instrument.Name] = value);
        listener.SetMeasurementEventCallback<int>((instrument, value, _, _) => seen[instrument.Name] = value);
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.Equal(cache.Bytes, seen["gateway.cache.memory.size"]);
        Assert.Equal(MemoryExactCache.SizeOf("a", new byte[100]) + MemoryExactCache.SizeOf("b", new byte[200]), cache.Bytes);
        Assert.Equal(2, seen["gateway.cache.memory.entries"]);
        Assert.Equal(0, seen["gateway.cache.semantic.entries"]);
    }
}
