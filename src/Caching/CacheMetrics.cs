using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gateway.Grpc.Caching.Exact;

namespace Gateway.Grpc.Caching;

/// <summary>
/// The cache's instruments, on the gateway's meter (<c>Gateway.Grpc</c>):
/// <c>gateway.cache.lookups</c> by <c>model</c> and <c>result</c> (hit_exact, hit_semantic,
/// miss, bypass); <c>gateway.cache.saved_cost.usd</c> (US$ not spent upstream, by model);
/// <c>gateway.cache.stores</c> (answers written, by model). Prometheus:
/// <c>gateway_cache_lookups_total</c>, <c>gateway_cache_saved_cost_usd_total</c>, <c>gateway_cache_stores_total</c>.
/// Gauges of this replica's own memory: <c>gateway.cache.memory.size</c> (bytes the memory backend
/// holds, its <c>maxBytes</c> bound applies to this figure), <c>gateway.cache.memory.entries</c>
/// and <c>gateway.cache.semantic.entries</c> (vectors in the index) —
/// <c>gateway_cache_memory_size_bytes</c>, <c>gateway_cache_memory_entries</c>, <c>gateway_cache_semantic_entries</c>.
/// </summary>
internal sealed class CacheMetrics : IDisposable
{
    public const string MeterName = "Gateway.Grpc";

    private readonly Meter _meter;
    private readonly Counter<long> _lookups;
    private readonly Counter<double> _saved;
    private readonly Counter<long> _stores;

    /// <summary>The meter comes from the host's factory, so the host's exporters (scoped to it) see it.</summary>
    public CacheMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _meter = meterFactory.Create(MeterName);
        _lookups = _meter.CreateCounter<long>("gateway.cache.lookups", "{lookup}", "Response-cache lookups by result.");
        _saved = _meter.CreateCounter<double>("gateway.cache.saved_cost.usd", "{USD}", "What cache hits would have cost upstream.");
        _stores = _meter.CreateCounter<long>("gateway.cache.stores", "{answer}", "Answers written to the response cache.");
    }

    public void Lookup(string model, string result)
    {
        if (_lookups.Enabled)
        {
            var tags = new TagList { { "model", model }, { "result", result } };
            _lookups.Add(1, tags);
        }
    }

    public void Saved(string model, double usd)
    {
        if (_saved.Enabled && usd > 0)
        {
            _saved.Add(usd, new KeyValuePair<string, object?>("model", model));
        }
    }

    public void Stored(string model)
    {
        if (_stores.Enabled)
        {
            _stores.Add(1, new KeyValuePair<string, object?>("model", model));
        }
    }

    /// <summary>Publishes the size gauges of the memory backend and the vector index (either may be absent).</summary>
    internal void ObserveSizes(MemoryExactCache? memory, Semantic.VectorIndex? index)
    {
        if (memory is not null)
        {
            _meter.CreateObservableGauge("gateway.cache.memory.size", () => memory.Bytes, "By", "Bytes held by this replica's memory cache (bounded by cache.maxBytes).");
            _meter.CreateObservableGauge("gateway.cache.memory.entries", () => memory.Count, "{entry}", "Answers held by this replica's memory cache.");
        }

        if (index is not null)
        {
            _meter.CreateObservableGauge("gateway.cache.semantic.entries", () => index.Count, "{vector}", "Vectors in this replica's semantic index (bounded by cache.semantic.maxEntries).");
        }
    }

    public void Dispose() => _meter.Dispose();
}
