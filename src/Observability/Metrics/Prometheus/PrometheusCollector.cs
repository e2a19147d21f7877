using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;

namespace Gateway.Grpc.Observability.Metrics.Prometheus;

/// <summary>
/// Aggregates the measurements of selected instruments with a <see cref="MeterListener"/> and
/// renders them in the Prometheus text exposition format 0.0.4: counters as <c>_total</c>,
/// histograms as cumulative <c>_bucket{le}</c> plus <c>_sum</c> and <c>_count</c>, up-down
/// counters and gauges as gauges. Observable instruments are read at each scrape.
/// </summary>
public sealed class PrometheusCollector : IDisposable
{
    /// <summary>Default bucket bounds for histograms without advice.</summary>
    internal static readonly double[] DefaultBuckets = [.. GatewayMetrics.LatencyBuckets];

    private readonly MeterListener _listener;
    private readonly Func<Instrument, bool> _filter;
    private readonly int _maxSeriesPerInstrument;
    private readonly Lock _collectLock = new();
    private readonly Lock _instrumentsLock = new();
    private InstrumentState[] _instruments = [];

    /// <param name="filter">Which instruments to export (e.g. one meter of one meter factory).</param>
    /// <param name="maxSeriesPerInstrument">Series beyond this go to one <c>otel_metric_overflow="true"</c> series, so an unbounded label cannot eat the memory.</param>
    public PrometheusCollector(Func<Instrument, bool> filter, int maxSeriesPerInstrument = 2000)
    {
        ArgumentNullException.ThrowIfNull(filter);
        _filter = filter;
        _maxSeriesPerInstrument = maxSeriesPerInstrument;
        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
            MeasurementsCompleted = OnMeasurementsCompleted,
        };
        _listener.SetMeasurementEventCallback<long>(static (instrument, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (instrument, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<short>(static (instrument, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<byte>(static (instrument, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>(static (instrument, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<float>(static (instrument, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<decimal>(static (instrument, value, tags, state) => ((InstrumentState)state!).Record((double)value, tags));
        _listener.Start();
    }

    /// <summary>Renders every exported instrument; observable instruments are observed now.</summary>
    public string Collect()
    {
        var builder = new StringBuilder(4096);
        WriteTo(builder);
        return builder.ToString();
    }

    public void WriteTo(StringBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        lock (_collectLock)
        {
            var instruments = Volatile.Read(ref _instruments);
            foreach (var state in instruments)
            {
                if (state.Observable)
                {
                    state.Clear();
                }
            }

            _listener.RecordObservableInstruments();
            var written = new HashSet<string>(StringComparer.Ordinal);
            foreach (var state in instruments)
            {
                if (!written.Add(state.Name))
                {
                    builder.Append("# gateway: skipped ").Append(state.Instrument.Meter.Name).Append('/').Append(state.Instrument.Name).Append(": its name collides with another family\n");
                    continue;
                }

                state.WriteTo(builder);
            }
        }
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!_filter(instrument) || !TryDescribe(instrument, out var type, out var mode, out var observable))
        {
            return;
        }

        var bounds = type == PrometheusType.Histogram ? BucketsOf(instrument) : null;
        var state = new InstrumentState(instrument, type, mode, observable, bounds, _maxSeriesPerInstrument);
        lock (_instrumentsLock)
        {
            var list = new List<InstrumentState>(_instruments) { state };
            list.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
            _instruments = [.. list];
        }

        listener.EnableMeasurementEvents(instrument, state);
    }

    private void OnMeasurementsCompleted(Instrument instrument, object? state)
    {
        lock (_instrumentsLock)
        {
            _instruments = Array.FindAll(_instruments, s => !ReferenceEquals(s, state));
        }
    }

    private static bool TryDescribe(Instrument instrument, out PrometheusType type, out RecordMode mode, out bool observable)
    {
        var definition = instrument.GetType().IsGenericType ? instrument.GetType().GetGenericTypeDefinition() : instrument.GetType();
        observable = instrument.IsObservable;
        (type, mode) = definition switch
        {
            _ when definition == typeof(Counter<>) => (PrometheusType.Counter, RecordMode.Add),
            _ when definition == typeof(ObservableCounter<>) => (PrometheusType.Counter, RecordMode.Set),
            _ when definition == typeof(UpDownCounter<>) => (PrometheusType.Gauge, RecordMode.Add),
            _ when definition == typeof(ObservableUpDownCounter<>) => (PrometheusType.Gauge, RecordMode.Set),
            _ when definition == typeof(Gauge<>) || definition == typeof(ObservableGauge<>) => (PrometheusType.Gauge, RecordMode.Set),
            _ when definition == typeof(Histogram<>) => (PrometheusType.Histogram, RecordMode.Observe),
            _ => ((PrometheusType)(-1), (RecordMode)(-1)),
        };
        return (int)type >= 0;
    }

    private static double[] BucketsOf(Instrument instrument)
    {
        IReadOnlyList<double>? advised = instrument switch
        {
            Histogram<double> h => h.Advice?.HistogramBucketBoundaries,
            Histogram<float> h => ToDoubles(h.Advice?.HistogramBucketBoundaries),
            Histogram<long> h => ToDoubles(h.Advice?.HistogramBucketBoundaries),
            Histogram<int> h => ToDoubles(h.Advice?.HistogramBucketBoundaries),
            _ => null,
        };
        if (advised is null || advised.Count == 0)
        {
            return DefaultBuckets;
        }

        var bounds = advised.Where(b => !double.IsNaN(b) && !double.IsInfinity(b)).Distinct().Order().ToArray();
        return bounds.Length == 0 ? DefaultBuckets : bounds;
    }

    private static double[]? ToDoubles<T>(IReadOnlyList<T>? values)
        where T : struct, IConvertible
        => values?.Select(v => v.ToDouble(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    public void Dispose() => _listener.Dispose();

    internal enum RecordMode
    {
        Add,
        Set,
        Observe,
    }

    private sealed class InstrumentState
    {
        private readonly ConcurrentDictionary<LabelSet, MetricSeries> _series = new(LabelSetComparer.Instance);
        private readonly ConcurrentDictionary<LabelSet, MetricSeries>.AlternateLookup<TagsKey> _lookup;
        private readonly RecordMode _mode;
        private readonly double[]? _bounds;
        private readonly int _maxSeries;
        private readonly string _help;
        private MetricSeries? _overflow;

        public InstrumentState(Instrument instrument, PrometheusType type, RecordMode mode, bool observable, double[]? bounds, int maxSeries)
        {
            Instrument = instrument;
            Type = type;
            _mode = mode;
            Observable = observable;
            _bounds = bounds;
            _maxSeries = maxSeries;
            _lookup = _series.GetAlternateLookup<TagsKey>();
            Name = PrometheusNaming.MetricName(instrument.Name, instrument.Unit, type);
            _help = string.IsNullOrWhiteSpace(instrument.Description) ? instrument.Name : instrument.Description;
        }

        public Instrument Instrument { get; }

        public PrometheusType Type { get; }

        public bool Observable { get; }

        public string Name { get; }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (double.IsNaN(value) || (Type == PrometheusType.Counter && _mode == RecordMode.Add && value < 0))
            {
                // Counters only go up; a negative add is a caller bug the exposition must not show.
                return;
            }

            var series = Find(tags);
            switch (_mode)
            {
                case RecordMode.Add:
                    series.Add(value);
                    break;
                case RecordMode.Set:
                    series.Set(value);
                    break;
                default:
                    series.Observe(value, _bounds!);
                    break;
            }
        }

        public void Clear() => _series.Clear();

        private MetricSeries Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (_lookup.TryGetValue(new TagsKey(tags), out var series))
            {
                return series;
            }

            var bucketCount = _bounds is null ? 0 : _bounds.Length + 1;
            if (_series.Count >= _maxSeries)
            {
                return _overflow ??= new MetricSeries(LabelSet.Overflow, bucketCount);
            }

            var labels = LabelSet.Create(tags);
            return _series.GetOrAdd(labels, new MetricSeries(labels, bucketCount));
        }

        public void WriteTo(StringBuilder builder)
        {
            builder.Append("# HELP ").Append(Name).Append(' ');
            PrometheusText.AppendEscapedHelp(builder, _help);
            builder.Append('\n');
            builder.Append("# TYPE ").Append(Name).Append(' ').Append(Type switch
            {
                PrometheusType.Counter => "counter",
                PrometheusType.Histogram => "histogram",
                _ => "gauge",
            }).Append('\n');

            var all = new List<MetricSeries>(_series.Values);
            if (_overflow is { } overflow)
            {
                all.Add(overflow);
            }

            // Series whose tags differ only by empty values render alike: merge them by text.
            all.Sort(static (a, b) => string.CompareOrdinal(a.Labels.Rendered, b.Labels.Rendered));
            if (Type == PrometheusType.Histogram)
            {
                WriteHistograms(builder, all);
                return;
            }

            for (var i = 0; i < all.Count; i++)
            {
                var labels = all[i].Labels.Rendered;
                var value = all[i].Value;
                while (i + 1 < all.Count && all[i + 1].Labels.Rendered == labels)
                {
                    value = _mode == RecordMode.Set ? all[++i].Value : value + all[++i].Value;
                }

                builder.Append(Name);
                if (labels.Length > 0)
                {
                    builder.Append('{').Append(labels).Append('}');
                }

                builder.Append(' ');
                PrometheusText.AppendValue(builder, value);
                builder.Append('\n');
            }
        }

        private void WriteHistograms(StringBuilder builder, List<MetricSeries> all)
        {
            var bounds = _bounds!;
            Span<long> counts = stackalloc long[bounds.Length + 1];
            Span<long> merged = stackalloc long[bounds.Length + 1];
            for (var i = 0; i < all.Count; i++)
            {
                var labels = all[i].Labels.Rendered;
                all[i].CopyBuckets(merged);
                var sum = all[i].Sum;
                while (i + 1 < all.Count && all[i + 1].Labels.Rendered == labels)
                {
                    all[++i].CopyBuckets(counts);
                    for (var b = 0; b < counts.Length; b++)
                    {
                        merged[b] += counts[b];
                    }

                    sum += all[i].Sum;
                }

                // Buckets are cumulative; +Inf equals _count, so the two always agree.
                long cumulative = 0;
                for (var b = 0; b <= bounds.Length; b++)
                {
                    cumulative += merged[b];
                    builder.Append(Name).Append("_bucket{");
                    if (labels.Length > 0)
                    {
                        builder.Append(labels).Append(',');
                    }

                    builder.Append("le=\"").Append(b < bounds.Length ? PrometheusText.BoundText(bounds[b]) : "+Inf").Append("\"} ");
                    builder.Append(cumulative).Append('\n');
                }

                builder.Append(Name).Append("_sum");
                AppendLabels(builder, labels);
                PrometheusText.AppendValue(builder, sum);
                builder.Append('\n');
                builder.Append(Name).Append("_count");
                AppendLabels(builder, labels);
                builder.Append(cumulative).Append('\n');
            }
        }

        private static void AppendLabels(StringBuilder builder, string labels)
        {
            if (labels.Length > 0)
            {
                builder.Append('{').Append(labels).Append('}');
            }

            builder.Append(' ');
        }
    }
}
