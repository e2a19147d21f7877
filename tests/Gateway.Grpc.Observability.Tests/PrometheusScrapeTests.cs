using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gateway.Grpc.Observability.Tests.Infrastructure;

namespace Gateway.Grpc.Observability.Tests;

/// <summary>A real Prometheus scrapes the gateway's /metrics and answers queries over it.</summary>
public sealed class PrometheusScrapeTests
{
    [Fact]
    public async Task RealPrometheus_ScrapesGateway_RequestSeriesQueryable()
    {
        var prometheusBinary = Tools.Require("prometheus");
        var provider = new ScriptedProvider();
        await using var gateway = await TestGateway.StartAsync(TestModels.Config(("chat", ["chat-1"], null)), provider);
        await gateway.CompleteAsync(TestGateway.Request("chat"));
        await gateway.CompleteAsync(TestGateway.Request("chat"));
        await gateway.StreamAsync(TestGateway.Request("chat"));

        var directory = Directory.CreateTempSubdirectory("gateway-prometheus-");
        var port = Gateway.Grpc.TestSupport.LoopbackPort.Reserve();
        var config = Path.Combine(directory.FullName, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: gateway
                scrape_interval: 1s
                scrape_timeout: 1s
                metrics_path: /metrics
                static_configs:
                  - targets: ['127.0.0.1:{gateway.HttpAddress.Port}']
            """);
        var log = new StringBuilder();
        using var prometheus = new Process
        {
            StartInfo = new ProcessStartInfo(prometheusBinary)
            {
                ArgumentList =
                {
                    "--config.file=" + config,
                    "--storage.tsdb.path=" + Path.Combine(directory.FullName, "data"),
                    "--web.listen-address=127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture),
                    "--log.level=warn",
                },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            },
        };
        prometheus.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        prometheus.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        prometheus.Start();
        prometheus.BeginErrorReadLine();
        prometheus.BeginOutputReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            var requests = await PollAsync(http, prometheus, log, "gateway_requests_total", r => r.Count >= 2);
            var unary = requests.Single(r => r.Labels["stream"] == "false");
            Assert.Equal("chat", unary.Labels["model"]);
            Assert.Equal("fake", unary.Labels["provider"]);
            Assert.Equal("grpc", unary.Labels["route"]);
            Assert.Equal("OK", unary.Labels["status"]);
            Assert.Equal("gateway", unary.Labels["job"]);
            Assert.Equal(2, unary.Value);
            Assert.Equal(1, requests.Single(r => r.Labels["stream"] == "true").Value);

            // Histograms arrive as buckets Prometheus can aggregate.
            var buckets = await PollAsync(http, prometheus, log, "sum by (le) (gateway_request_duration_seconds_bucket)", r => r.Count > 0);
            Assert.Equal(3, buckets.Single(b => b.Labels["le"] == "+Inf").Value);
            var up = await PollAsync(http, prometheus, log, "up{job=\"gateway\"}", r => r.Count == 1);
            Assert.Equal(1, up[0].Value);
        }
        finally
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync();
            directory.Delete(recursive: true);
        }
    }

    private static async Task<List<Sample>> PollAsync(HttpClient http, Process prometheus, StringBuilder log, string query, Func<List<Sample>, bool> done)
    {
        var deadline = Stopwatch.StartNew();
        string last = "(no answer yet)";
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (prometheus.HasExited)
            {
                Assert.Fail($"prometheus exited with {prometheus.ExitCode}:\n{log}");
            }

            try
            {
                last = await http.GetStringAsync("/api/v1/query?query=" + Uri.EscapeDataString(query));
                var samples = Parse(last);
                if (done(samples))
                {
                    return samples;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
        }

        var targets = await TryGetAsync(http, "/api/v1/targets");
        Assert.Fail($"Prometheus never answered '{query}' as expected. Last answer: {last}\nTargets: {targets}\nLog:\n{log}");
        return [];
    }

    private static async Task<string> TryGetAsync(HttpClient http, string path)
    {
        try
        {
            return await http.GetStringAsync(path);
        }
        catch (HttpRequestException ex)
        {
            return ex.Message;
        }
    }

    private static List<Sample> Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var samples = new List<Sample>();
        foreach (var result in document.RootElement.GetProperty("data").GetProperty("result").EnumerateArray())
        {
            var labels = new Dictionary<string, string>();
            foreach (var label in result.GetProperty("metric").EnumerateObject())
            {
                labels[label.Name] = label.Value.GetString()!;
            }

            var value = double.Parse(result.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
            samples.Add(new Sample(labels, value));
        }

        return samples;
    }

    private sealed record Sample(Dictionary<string, string> Labels, double Value);
}
