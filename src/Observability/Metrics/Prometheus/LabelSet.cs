using System.Globalization;
using System.Text;

namespace Gateway.Grpc.Observability.Metrics.Prometheus;

/// <summary>
/// One series' labels: the tags as recorded (to match incoming measurements without building
/// anything) and their rendering, sanitized, sorted by name and escaped, made once.
/// </summary>
internal sealed class LabelSet
{
    public static readonly LabelSet Empty = new([], 0, "");

    public static readonly LabelSet Overflow = new([new KeyValuePair<string, object?>("otel_metric_overflow", "true")], -1, "otel_metric_overflow=\"true\"");

    private readonly KeyValuePair<string, object?>[] _tags;

    private LabelSet(KeyValuePair<string, object?>[] tags, int hash, string rendered)
    {
        _tags = tags;
        Hash = hash;
        Rendered = rendered;
    }

    public int Hash { get; }

    /// <summary><c>a="x",b="y"</c> without braces; empty when there are no (non-empty) labels.</summary>
    public string Rendered { get; }

    public int Count => _tags.Length;

    public static LabelSet Create(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            return Empty;
        }

        var copy = tags.ToArray();
        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in copy)
        {
            var text = ValueText(value);
            if (text.Length == 0)
            {
                // An empty label value is the same series as no label at all (Prometheus data model).
                continue;
            }

            var name = PrometheusNaming.LabelName(key);
            labels[name] = labels.TryGetValue(name, out var existing) ? existing + ";" + text : text;
        }

        var rendered = new StringBuilder();
        foreach (var (name, text) in labels)
        {
            if (rendered.Length > 0)
            {
                rendered.Append(',');
            }

            rendered.Append(name).Append("=\"");
            PrometheusText.AppendEscapedLabelValue(rendered, text);
            rendered.Append('"');
        }

        return new LabelSet(copy, ComputeHash(tags), rendered.ToString());
    }

    /// <summary>Order-independent: callers need not pass tags in one order.</summary>
    public static int ComputeHash(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var hash = tags.Length;
        foreach (var (key, value) in tags)
        {
            hash += HashCode.Combine(key, value);
        }

        return hash;
    }

    public bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length != _tags.Length)
        {
            return false;
        }

        foreach (var (key, value) in tags)
        {
            var found = false;
            foreach (var own in _tags)
            {
                if (string.Equals(own.Key, key, StringComparison.Ordinal))
                {
                    found = Equals(own.Value, value);
                    break;
                }
            }

            if (!found)
            {
                return false;
            }
        }

        return true;
    }

    public bool Matches(LabelSet other) => ReferenceEquals(this, other) || (Hash == other.Hash && Matches(other._tags));

    private static string ValueText(object? value) => value switch
    {
        null => "",
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}

/// <summary>Incoming measurement tags as a lookup key, so a hit allocates nothing.</summary>
internal readonly ref struct TagsKey(ReadOnlySpan<KeyValuePair<string, object?>> tags)
{
    public ReadOnlySpan<KeyValuePair<string, object?>> Tags { get; } = tags;
}

internal sealed class LabelSetComparer : IEqualityComparer<LabelSet>, IAlternateEqualityComparer<TagsKey, LabelSet>
{
    public static readonly LabelSetComparer Instance = new();

    public bool Equals(LabelSet? x, LabelSet? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.Matches(y));

    public int GetHashCode(LabelSet obj) => obj.Hash;

    public bool Equals(TagsKey alternate, LabelSet other) => other.Matches(alternate.Tags);

    public int GetHashCode(TagsKey alternate) => LabelSet.ComputeHash(alternate.Tags);

    public LabelSet Create(TagsKey alternate) => LabelSet.Create(alternate.Tags);
}
