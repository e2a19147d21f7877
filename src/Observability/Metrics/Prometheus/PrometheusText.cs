using System.Globalization;
using System.Text;

namespace Gateway.Grpc.Observability.Metrics.Prometheus;

/// <summary>Escaping and number formatting of the Prometheus text format 0.0.4.</summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Label values escape backslash, double quote and line feed.</summary>
    public static void AppendEscapedLabelValue(StringBuilder builder, string value)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\':
                    builder.Append(@"\\");
                    break;
                case '"':
                    builder.Append("\\\"");
                    break;
                case '\n':
                    builder.Append(@"\n");
                    break;
                default:
                    builder.Append(c);
                    break;
            }
        }
    }

    /// <summary>HELP text escapes backslash and line feed (not quotes).</summary>
    public static void AppendEscapedHelp(StringBuilder builder, string help)
    {
        foreach (var c in help)
        {
            switch (c)
            {
                case '\\':
                    builder.Append(@"\\");
                    break;
                case '\n':
                    builder.Append(@"\n");
                    break;
                case '\r':
                    break;
                default:
                    builder.Append(c);
                    break;
            }
        }
    }

    public static void AppendValue(StringBuilder builder, double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            builder.Append("+Inf");
        }
        else if (double.IsNegativeInfinity(value))
        {
            builder.Append("-Inf");
        }
        else if (double.IsNaN(value))
        {
            builder.Append("NaN");
        }
        else if (value == Math.Floor(value) && Math.Abs(value) < 1e15)
        {
            builder.Append(((long)value).ToString(CultureInfo.InvariantCulture));
        }
        else
        {
            builder.Append(value.ToString("R", CultureInfo.InvariantCulture));
        }
    }

    /// <summary>The <c>le</c> label of a bucket bound, formatted the same for every series.</summary>
    public static string BoundText(double bound) => double.IsPositiveInfinity(bound) ? "+Inf" : bound.ToString("R", CultureInfo.InvariantCulture);
}
