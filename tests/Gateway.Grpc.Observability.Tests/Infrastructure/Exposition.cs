using System.Globalization;
using System.Text;

namespace Gateway.Grpc.Observability.Tests.Infrastructure;

/// <summary>One sample line of a Prometheus text exposition.</summary>
internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public override string ToString()
        => Name + "{" + string.Join(",", Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}=\"{l.Value}\"")) + "} " + Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Reads the samples of a scrape, so tests assert on series (name, exact label set, value)
/// rather than on how the exporter lays a line out (label order, timestamps).
/// </summary>
internal static class Exposition
{
    /// <summary>Labels the OpenTelemetry exporter puts on every series (the instrumentation scope); series are matched without them.</summary>
    public const string ScopeLabelPrefix = "otel_scope_";

    public static IReadOnlyList<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var i = 0;
            while (i < line.Length && line[i] is not ('{' or ' '))
            {
                i++;
            }

            var name = line[..i];
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            if (i < line.Length && line[i] == '{')
            {
                i++;
                while (line[i] != '}')
                {
                    var eq = line.IndexOf('=', i);
                    var key = line[i..eq];
                    i = eq + 2; // past ="
                    var value = new StringBuilder();
                    while (line[i] != '"')
                    {
                        if (line[i] == '\\')
                        {
                            i++;
                            value.Append(line[i] switch { 'n' => '\n', var c => c });
                        }
                        else
                        {
                            value.Append(line[i]);
                        }

                        i++;
                    }

                    labels[key] = value.ToString();
                    i++; // past the closing quote
                    if (line[i] == ',')
                    {
                        i++;
                    }
                }

                i++; // past }
            }

            // "value" or "value timestamp".
            var fields = line[i..].Trim().Split(' ');
            samples.Add(new Sample(name, labels, ParseValue(fields[0])));
        }

        return samples;
    }

    /// <summary>The value of the one series with exactly these labels (scope labels aside); fails listing the family's series otherwise.</summary>
    public static double Value(this IReadOnlyList<Sample> samples, string name, params (string Key, string Value)[] labels)
    {
        var found = Find(samples, name, labels);
        if (found.Count != 1)
        {
            Assert.Fail($"Expected one series {Describe(name, labels)}, found {found.Count}. Series of '{name}':\n  " + string.Join("\n  ", samples.Where(s => s.Name == name)));
        }

        return found[0].Value;
    }

    /// <summary>Whether a series with exactly these labels (scope labels aside) exists.</summary>
    public static bool Has(this IReadOnlyList<Sample> samples, string name, params (string Key, string Value)[] labels) => Find(samples, name, labels).Count > 0;

    public static IReadOnlyList<Sample> Family(this IReadOnlyList<Sample> samples, string name) => samples.Where(s => s.Name == name).ToArray();

    private static List<Sample> Find(IReadOnlyList<Sample> samples, string name, (string Key, string Value)[] labels)
    {
        var found = new List<Sample>();
        foreach (var sample in samples)
        {
            if (sample.Name != name)
            {
                continue;
            }

            var own = sample.Labels.Where(l => !l.Key.StartsWith(ScopeLabelPrefix, StringComparison.Ordinal)).ToArray();
            if (own.Length == labels.Length && labels.All(l => sample.Labels.TryGetValue(l.Key, out var v) && v == l.Value))
            {
                found.Add(sample);
            }
        }

        return found;
    }

    private static string Describe(string name, (string Key, string Value)[] labels)
        => name + "{" + string.Join(",", labels.Select(l => $"{l.Key}=\"{l.Value}\"")) + "}";

    private static double ParseValue(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };
}
