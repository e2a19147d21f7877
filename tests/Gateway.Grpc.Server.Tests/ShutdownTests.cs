using System.Diagnostics;
using System.Net;
using Gateway.Grpc.Server.Tests.Infrastructure;
using Gateway.Grpc.TestSupport;
using Gateway.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Data.Sqlite;

namespace Gateway.Grpc.Server.Tests;

/// <summary>
/// SIGTERM to a real gateway process with a stream in flight: readiness turns false first, the
/// stream still ends with finish, new connections are refused once the listeners close, the
/// ledger row of the drained stream is written, and the process exits 0.
/// </summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task Sigterm_ReadinessFalseFirst_InFlightStreamDrains_LedgerFlushed_ExitZero()
    {
        var directory = Directory.CreateTempSubdirectory("gw-shutdown-");
        var database = Path.Combine(directory.FullName, "gateway.db");
        GatewayProcess? gateway = null;
        try
        {
            gateway = await GatewayProcess.StartAsync(
                new Dictionary<string, string?> { ["store:kind"] = "sqlite", ["store:path"] = database, ["shutdown:drainDelaySeconds"] = "1", ["logLevel"] = "Warning" },
                directory.FullName);
            var process = gateway.Process;
            var grpcPort = gateway.GrpcPort;
            var http = gateway.Http;

            // A stream of 80 tokens at 20 tokens/s: about four seconds of output, longer than the
            // one-second drain delay, so it is still running when the listeners close.
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
            var request = GatewayHarness.Request("sim-small", 80);
            request.Metadata["sim.ttft_ms"] = "0";
            request.Metadata["sim.tokens_per_second"] = "20";
            request.Metadata["sim.output_tokens"] = "80";
            using var call = new Completion.CompletionClient(channel).StreamComplete(request);
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None)); // start
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None)); // first delta

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            var terminated = Stopwatch.StartNew();

            // Readiness says no at once, while the listeners still accept (drain delay).
            var draining = DateTime.UtcNow.AddSeconds(5);
            HttpResponseMessage ready;
            while ((ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode != HttpStatusCode.ServiceUnavailable)
            {
                Assert.True(DateTime.UtcNow < draining, "readiness stayed true after SIGTERM");
                await Task.Delay(50);
            }

            Assert.Contains("shutting down", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            // The stream in flight runs to its end.
            var events = new List<CompletionChunk>();
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                events.Add(call.ResponseStream.Current);
            }

            Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
            Assert.Contains(events, e => e.EventCase == CompletionChunk.EventOneofCase.Finish);
            Assert.Equal(80, events.Single(e => e.EventCase == CompletionChunk.EventOneofCase.Usage).Usage.OutputTokens);

            // Once the listeners closed (the drain delay is over), a new connection is refused.
            Assert.True(terminated.Elapsed > TimeSpan.FromSeconds(1.5), $"the stream ended {terminated.Elapsed} after SIGTERM, before the drain delay was surely over");
            using var late = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
            var refused = await Assert.ThrowsAsync<RpcException>(() => new Completion.CompletionClient(late).CompleteAsync(GatewayHarness.Request("sim-small", 4), deadline: DateTime.UtcNow.AddSeconds(5)).ResponseAsync);
            Assert.Contains(refused.StatusCode, new[] { StatusCode.Unavailable, StatusCode.DeadlineExceeded });

            using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(exited.Token);
            Assert.True(process.ExitCode == 0, "exit code " + process.ExitCode + ":\n" + gateway.Output);

            // The drained stream's ledger row was flushed before the process ended.
            await using var connection = new SqliteConnection($"Data Source={database}");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM gw_ledger WHERE stream = 1 AND status = 'OK' AND output_tokens = 80";
            Assert.Equal(1L, (long)(await command.ExecuteScalarAsync())!);
        }
        finally
        {
            if (gateway is not null)
            {
                await gateway.DisposeAsync();
            }

            SqliteConnection.ClearAllPools();
            directory.Delete(recursive: true);
        }
    }
}
