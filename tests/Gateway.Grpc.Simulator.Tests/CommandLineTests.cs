using System.Diagnostics;
using System.Net;

namespace Gateway.Grpc.Simulator.Tests;

public sealed class CommandLineTests
{
    [Fact]
    public void Parse_AllOptions()
    {
        Assert.True(CommandLine.TryParse(["--http", "127.0.0.1:9000", "--grpc=127.0.0.1:9001", "--ttft-ms", "50", "--tokens-per-second", "80.5", "--fault-rate", "0.25", "--fault-status", "429", "--api-key", "k"], out var options, out var error, out _), error);

        Assert.Equal("127.0.0.1:9000", options.HttpAddress);
        Assert.Equal("127.0.0.1:9001", options.GrpcAddress);
        Assert.Equal(50, options.TtftMs);
        Assert.Equal(80.5, options.TokensPerSecond);
        Assert.Equal(0.25, options.FaultRate);
        Assert.Equal(429, options.FaultStatus);
        Assert.Equal("k", options.ApiKey);
    }

    [Theory]
    [InlineData(new[] { "--ttft-ms", "soon" }, "--ttft-ms: 'soon' is not an integer")]
    [InlineData(new[] { "--http" }, "--http needs a value")]
    [InlineData(new[] { "--colour", "red" }, "unknown option '--colour'")]
    [InlineData(new[] { "--fault-rate", "1.5" }, "FaultRate must be between 0 and 1")]
    public void Parse_BadInput_ExplainsWhatToFix(string[] args, string expected)
    {
        Assert.False(CommandLine.TryParse(args, out _, out var error, out _));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Program_PrintsBoundAddresses_AndServes()
    {
        var dll = typeof(SimulatorApp).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])[dll, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"])
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var http = await process.StandardOutput.ReadLineAsync(timeout.Token);
            var grpc = await process.StandardOutput.ReadLineAsync(timeout.Token);
            Assert.Matches(@"^SIM_HTTP http://127\.0\.0\.1:\d+$", http);
            Assert.Matches(@"^SIM_GRPC http://127\.0\.0\.1:\d+$", grpc);

            using var client = new HttpClient();
            using var response = await client.GetAsync(http!["SIM_HTTP ".Length..] + "/healthz", timeout.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }
}
