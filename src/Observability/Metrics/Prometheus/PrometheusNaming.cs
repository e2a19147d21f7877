using System.Text;

namespace Gateway.Grpc.Observability.Metrics.Prometheus;

/// <summary>Prometheus metric family types of the text format 0.0.4.</summary>
internal enum PrometheusType
{
    Counter,
    Gauge,
    Histogram,
}

/// <summary>
/// Instrument and tag names to Prometheus names, the way the OpenTelemetry "Prometheus and
/// OpenMetrics compatibility" spec does it: invalid characters become <c>_</c>, repeated
/// underscores collapse, the unit becomes a suffix (<c>s</c> → <c>_seconds</c>, annotations in
/// braces are dropped), and counters end in <c>_total</c>.
/// </summary>
internal static class PrometheusNaming
{
    public static string MetricName(string instrumentName, string? unit, PrometheusType type)
    {
        // Colons are legal but reserved for recording rules (promtool flags them), so they go too.
        var name = Sanitize(instrumentName, allowColon: false);
        var isCounter = type == PrometheusType.Counter;
        if (isCounter && name.EndsWith("_total", StringComparison.Ordinal))
        {
            name = name[..^"_total".Length];
        }

        var suffix = UnitSuffix(unit, type);
        if (suffix.Length > 0 && !name.EndsWith("_" + suffix, StringComparison.Ordinal))
        {
            name += "_" + suffix;
        }

        return isCounter ? name + "_total" : name;
    }

    /// <summary>A label name: <c>[a-zA-Z_][a-zA-Z0-9_]*</c>; runs of underscores collapse, so the reserved <c>__</c> prefix cannot appear.</summary>
    public static string LabelName(string key) => Sanitize(key, allowColon: false);

    /// <summary>UCUM-style units to the Prometheus base-unit words.</summary>
    public static string UnitSuffix(string? unit, PrometheusType type)
    {
        if (string.IsNullOrEmpty(unit))
        {
            return "";
        }

        switch (unit)
        {
            case "1":
                return type == PrometheusType.Gauge ? "ratio" : "";
            case "s":
                return "seconds";
            case "ms":
                return "milliseconds";
            case "us":
                return "microseconds";
            case "ns":
                return "nanoseconds";
            case "min":
                return "minutes";
            case "h":
                return "hours";
            case "By":
                return "bytes";
            case "KiBy":
                return "kibibytes";
            case "MiBy":
                return "mebibytes";
            case "%":
                return "percent";
        }

        // "{request}" is an annotation, not a unit; "{USD}" names a currency we keep.
        if (unit[0] == '{' && unit[^1] == '}')
        {
            var inner = unit[1..^1];
            return inner is "USD" or "usd" ? "usd" : "";
        }

        var per = unit.IndexOf('/', StringComparison.Ordinal);
        if (per > 0)
        {
            var left = UnitSuffix(unit[..per], PrometheusType.Counter);
            var right = UnitSuffix(unit[(per + 1)..], PrometheusType.Counter);
            return left.Length == 0 || right.Length == 0 ? "" : left + "_per_" + right.TrimEnd('s');
        }

        return Sanitize(unit, allowColon: false).Trim('_').ToLowerInvariant();
    }

    private static string Sanitize(string name, bool allowColon)
    {
        var builder = new StringBuilder(name.Length + 1);
        foreach (var c in name)
        {
            var valid = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') || (allowColon && c == ':');
            var next = valid ? c : '_';
            if (next == '_' && builder.Length > 0 && builder[^1] == '_')
            {
                continue;
            }

            builder.Append(next);
        }

        if (builder.Length == 0 || builder[0] is >= '0' and <= '9')
        {
            builder.Insert(0, '_');
        }

        return builder.ToString();
    }
}
