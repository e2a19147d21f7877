namespace Gateway.Grpc.Observability.Metrics.Prometheus;

/// <summary>
/// One series' aggregate, updated lock-free from any thread: a sum or last value, or histogram
/// buckets (non-cumulative here; the exposition accumulates them) with their sum.
/// </summary>
internal sealed class MetricSeries
{
    private readonly long[]? _buckets;
    private long _valueBits;
    private long _sumBits;

    public MetricSeries(LabelSet labels, int bucketCount)
    {
        Labels = labels;
        _buckets = bucketCount > 0 ? new long[bucketCount] : null;
    }

    public LabelSet Labels { get; }

    public double Value => BitConverter.Int64BitsToDouble(Volatile.Read(ref _valueBits));

    public double Sum => BitConverter.Int64BitsToDouble(Volatile.Read(ref _sumBits));

    public void Add(double value) => AddTo(ref _valueBits, value);

    public void Set(double value) => Volatile.Write(ref _valueBits, BitConverter.DoubleToInt64Bits(value));

    /// <summary>Counts a value into the first bucket whose upper bound (inclusive, Prometheus <c>le</c>) holds it.</summary>
    public void Observe(double value, double[] bounds)
    {
        var index = bounds.Length;
        for (var i = 0; i < bounds.Length; i++)
        {
            if (value <= bounds[i])
            {
                index = i;
                break;
            }
        }

        Interlocked.Increment(ref _buckets![index]);
        AddTo(ref _sumBits, value);
    }

    /// <summary>Copies bucket counts (last one is +Inf) into <paramref name="destination"/>.</summary>
    public void CopyBuckets(Span<long> destination)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = Volatile.Read(ref _buckets![i]);
        }
    }

    private static void AddTo(ref long location, double value)
    {
        long current, next;
        do
        {
            current = Volatile.Read(ref location);
            next = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(current) + value);
        }
        while (Interlocked.CompareExchange(ref location, next, current) != current);
    }
}
