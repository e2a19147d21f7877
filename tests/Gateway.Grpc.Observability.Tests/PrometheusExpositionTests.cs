using System.Diagnostics.Metrics;
using Gateway.Grpc.Observability.Metrics.Prometheus;
using Gateway.Grpc.Observability.Tests.Infrastructure;

namespace Gateway.Grpc.Observability.Tests;

public sealed class PrometheusExpositionTests : IDisposable
{
    private readonly Meter _meter = new("test.exposition." + Guid.NewGuid().ToString("N"));
    private readonly PrometheusCollector _collector;

    public PrometheusExpositionTests()
    {
        _collector = new PrometheusCollector(i => ReferenceEquals(i.Meter, _meter), maxSeriesPerInstrument: 3);
    }

    public void Dispose()
    {
        _collector.Dispose();
        _meter.Dispose();
    }

    [Fact]
    public void Counter_GetsTotalSuffixHelpAndType()
    {
        var counter = _meter.CreateCounter<long>("gateway.requests", "{request}", "Completed calls.");
        counter.Add(2, new KeyValuePair<string, object?>("route", "grpc"));
        counter.Add(3, new KeyValuePair<string, object?>("route", "grpc"));

        var text = _collector.Collect();

        Assert.Contains("# HELP gateway_requests_total Completed calls.\n# TYPE gateway_requests_total counter\ngateway_requests_total{route=\"grpc\"} 5\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Counter_NameAlreadyEndingInTotal_IsNotDoubled()
    {
        _meter.CreateCounter<long>("jobs_total").Add(1);

        Assert.Contains("\njobs_total 1\n", "\n" + _collector.Collect(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gateway.request.duration", "s", "Histogram", "gateway_request_duration_seconds")]
    [InlineData("gateway.cost.usd", "{USD}", "Counter", "gateway_cost_usd_total")]
    [InlineData("queue.size", "By", "Gauge", "queue_size_bytes")]
    [InlineData("cpu.utilization", "1", "Gauge", "cpu_utilization_ratio")]
    [InlineData("http-requests..per/route:x", "{request}", "Counter", "http_requests_per_route_x_total")]
    [InlineData("9lives", "ms", "Gauge", "_9lives_milliseconds")]
    [InlineData("latency_seconds", "s", "Histogram", "latency_seconds")]
    public void MetricName_SanitizedWithUnitAndTotal(string instrument, string unit, string type, string expected)
        => Assert.Equal(expected, PrometheusNaming.MetricName(instrument, unit, Enum.Parse<PrometheusType>(type)));

    [Theory]
    [InlineData("gen_ai.provider.name", "gen_ai_provider_name")]
    [InlineData("__reserved", "_reserved")]
    [InlineData("1st", "_1st")]
    [InlineData("a-b c", "a_b_c")]
    public void LabelName_Sanitized(string key, string expected) => Assert.Equal(expected, PrometheusNaming.LabelName(key));

    [Fact]
    public void LabelValues_EscapeBackslashQuoteAndNewline()
    {
        _meter.CreateCounter<long>("escapes").Add(1, new KeyValuePair<string, object?>("v", "a\\b\"c\nd"));

        Assert.Contains("escapes_total{v=\"a\\\\b\\\"c\\nd\"} 1\n", _collector.Collect(), StringComparison.Ordinal);
    }

    [Fact]
    public void Help_EscapesBackslashAndNewline()
    {
        _meter.CreateCounter<long>("helpful", unit: null, description: "line one\nback\\slash \"quoted\"").Add(1);

        Assert.Contains("# HELP helpful_total line one\\nback\\\\slash \"quoted\"\n", _collector.Collect(), StringComparison.Ordinal);
    }

    [Fact]
    public void Histogram_BucketsCumulative_InfEqualsCount_BoundInclusive()
    {
        var histogram = _meter.CreateHistogram("latency", "s", "Latency.", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1, 10] });
        foreach (var value in new[] { 0.05, 0.1, 0.5, 1, 5, 50 })
        {
            histogram.Record(value, new KeyValuePair<string, object?>("model", "m"));
        }

        var text = _collector.Collect();

        Assert.Contains("# TYPE latency_seconds histogram\n", text, StringComparison.Ordinal);
        Assert.Contains(
            "latency_seconds_bucket{model=\"m\",le=\"0.1\"} 2\n" +
            "latency_seconds_bucket{model=\"m\",le=\"1\"} 4\n" +
            "latency_seconds_bucket{model=\"m\",le=\"10\"} 5\n" +
            "latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 6\n" +
            "latency_seconds_sum{model=\"m\"} 56.65\n" +
            "latency_seconds_count{model=\"m\"} 6\n",
            text,
            StringComparison.Ordinal);
    }

    [Fact]
    public void Histogram_WithoutAdvice_UsesLatencyBuckets()
    {
        _meter.CreateHistogram<double>("plain", "s").Record(3);

        var text = _collector.Collect();

        Assert.Contains("plain_seconds_bucket{le=\"0.005\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("plain_seconds_bucket{le=\"4\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("plain_seconds_bucket{le=\"300\"} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void UpDownCounter_IsAGauge()
    {
        var inflight = _meter.CreateUpDownCounter<long>("streams.in_flight", "{stream}");
        inflight.Add(3);
        inflight.Add(-1);

        var text = _collector.Collect();

        Assert.Contains("# TYPE streams_in_flight gauge\nstreams_in_flight 2\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ObservableGauge_ReadAtEachScrape_SeriesThatVanishAreDropped()
    {
        var deployments = new List<string> { "a", "b" };
        _meter.CreateObservableGauge("circuit", () => deployments.Select(d => new Measurement<int>(1, new KeyValuePair<string, object?>("deployment", d))).ToArray());

        var first = _collector.Collect();
        deployments.Remove("a");
        var second = _collector.Collect();

        Assert.Contains("circuit{deployment=\"a\"} 1\n", first, StringComparison.Ordinal);
        Assert.DoesNotContain("deployment=\"a\"", second, StringComparison.Ordinal);
        Assert.Contains("circuit{deployment=\"b\"} 1\n", second, StringComparison.Ordinal);
    }

    [Fact]
    public void Tags_InAnyOrder_AreOneSeries_LabelsSortedByName()
    {
        var counter = _meter.CreateCounter<long>("ordered");
        counter.Add(1, new KeyValuePair<string, object?>("b", "2"), new KeyValuePair<string, object?>("a", "1"));
        counter.Add(1, new KeyValuePair<string, object?>("a", "1"), new KeyValuePair<string, object?>("b", "2"));

        var text = _collector.Collect();

        Assert.Contains("ordered_total{a=\"1\",b=\"2\"} 2\n", text, StringComparison.Ordinal);
        Assert.Single(text.Split('\n'), l => l.StartsWith("ordered_total{", StringComparison.Ordinal));
    }

    [Fact]
    public void EmptyLabelValue_IsLeftOut()
    {
        _meter.CreateCounter<long>("teams").Add(1, new KeyValuePair<string, object?>("team", ""), new KeyValuePair<string, object?>("model", "m"));

        Assert.Contains("teams_total{model=\"m\"} 1\n", _collector.Collect(), StringComparison.Ordinal);
    }

    [Fact]
    public void TooManySeries_GoToOneOverflowSeries()
    {
        var counter = _meter.CreateCounter<long>("cardinality");
        for (var i = 0; i < 10; i++)
        {
            counter.Add(1, new KeyValuePair<string, object?>("id", i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        var lines = _collector.Collect().Split('\n').Where(l => l.StartsWith("cardinality_total", StringComparison.Ordinal)).ToArray();

        Assert.Equal(4, lines.Length);
        Assert.Contains("cardinality_total{otel_metric_overflow=\"true\"} 7", lines);
    }

    [Fact]
    public void Counter_NegativeAdd_IsIgnored()
    {
        var counter = _meter.CreateCounter<double>("monotonic");
        counter.Add(1.5);
        counter.Add(-1);

        Assert.Contains("\nmonotonic_total 1.5\n", "\n" + _collector.Collect(), StringComparison.Ordinal);
    }

    [Fact]
    public void OtherMeters_AreNotExported()
    {
        using var other = new Meter("test.other." + Guid.NewGuid().ToString("N"));
        other.CreateCounter<long>("foreign").Add(1);
        _meter.CreateCounter<long>("own").Add(1);

        var text = _collector.Collect();

        Assert.DoesNotContain("foreign", text, StringComparison.Ordinal);
        Assert.Contains("own_total 1", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exposition_WithHostileNamesAndValues_PassesPromtool()
    {
        var promtool = Tools.Require("promtool");
        _meter.CreateCounter<long>("weird.name-with:colons", "{x}", "Help with \\ and \n newline.").Add(1, new KeyValuePair<string, object?>("label.with-dash", "quote\" back\\ nl\n é"));
        _meter.CreateHistogram<double>("hist.latency", "s", "A histogram.").Record(12.5, new KeyValuePair<string, object?>("k", "v"));
        _meter.CreateUpDownCounter<int>("gauge.like", "1").Add(-4);

        var (exit, output) = await Tools.RunAsync(promtool, "check metrics", _collector.Collect());

        Assert.True(exit == 0, "promtool check metrics failed:\n" + output + "\n" + _collector.Collect());
    }
}
