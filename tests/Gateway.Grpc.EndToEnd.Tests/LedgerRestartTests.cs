using Gateway.Admin.V1;
using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.TestSupport;
using Grpc.Core;
using Gateway.V1;

namespace Gateway.Grpc.EndToEnd.Tests;

/// <summary>
/// The spend ledger across a load run and a graceful restart of the gateway process: every call
/// the provider (the simulator, over the OpenAI wire format) served, by its own count and token
/// totals, is in the SQLite ledger, to the token, when read back by a new gateway process on
/// the same file. The first process is stopped with SIGTERM, as an orchestrator stops it.
/// </summary>
[Collection("EndToEnd")]
public sealed class LedgerRestartTests(SimulatorFixture sim)
{
    private const string MasterKeyEnv = "E2E_GATEWAY_MASTER_KEY";
    private const string MasterKey = "mk-e2e-3b9d0c7f5a21";
    private const int Calls = 200;

    [Fact]
    public async Task LoadRunThenGracefulProcessRestart_LedgerEqualsWhatTheSimulatorServed()
    {
        var since = sim.Reset();
        Environment.SetEnvironmentVariable(MasterKeyEnv, MasterKey);
        var directory = Directory.CreateTempSubdirectory("gw-e2e-ledger-");
        try
        {
            var config = new GatewayConfig()
                .Model("ledger-model", [sim.Deployment("openai", "openai-1")])
                // The ledger prices by the upstream model from the pricing table; override its rates.
                .Set("pricing:gpt-4o-mini:input", "2.5")
                .Set("pricing:gpt-4o-mini:output", "10")
                .Set("store:kind", "sqlite")
                .Set("store:path", Path.Combine(directory.FullName, "gateway.db"))
                .Set("auth:masterKey", "env:" + MasterKeyEnv)
                .Set("auth:requireKeys", "false")
                .Build();

            long toldInput = 0;
            long toldOutput = 0;
            await using var first = await GatewayProcess.StartAsync(config, directory.FullName);
            int exitCode;
            try
            {
                // Fixed seed: prompt lengths, max_tokens and which calls stream are the same every run.
                var random = new Random(20240611);
                var plan = Enumerable.Range(0, Calls).Select(i => (Prompt: "Load call " + i + " " + new string('x', random.Next(0, 400)), MaxTokens: random.Next(1, 48), Stream: i % 4 == 0)).ToArray();
                var client = new Completion.CompletionClient(first.Channel);
                await Parallel.ForEachAsync(plan, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (call, ct) =>
                {
                    var request = Requests.Chat("ledger-model", call.Prompt, call.MaxTokens);
                    Usage usage;
                    if (call.Stream)
                    {
                        using var stream = client.StreamComplete(request, cancellationToken: ct);
                        Usage? last = null;
                        while (await stream.ResponseStream.MoveNext(ct))
                        {
                            if (stream.ResponseStream.Current.EventCase == CompletionChunk.EventOneofCase.Usage)
                            {
                                last = stream.ResponseStream.Current.Usage;
                            }
                        }

                        Assert.Equal(StatusCode.OK, stream.GetStatus().StatusCode);
                        usage = Assert.IsType<Usage>(last);
                    }
                    else
                    {
                        usage = (await client.CompleteAsync(request, cancellationToken: ct)).Usage;
                    }

                    Assert.False(usage.Estimated);
                    Assert.InRange(usage.OutputTokens, 1, call.MaxTokens);
                    Interlocked.Add(ref toldInput, usage.InputTokens);
                    Interlocked.Add(ref toldOutput, usage.OutputTokens);
                });
            }
            finally
            {
                // Graceful: on SIGTERM the host stops and the ledger writer drains its queue.
                exitCode = await first.StopAsync();
            }

            Assert.True(exitCode == 0, $"the gateway exited with {exitCode} on SIGTERM. Output:\n{first.Output}");

            // The simulator's own account of what it served.
            var records = sim.RequestsSince(since);
            Assert.Equal(Calls, records.Count);
            Assert.Equal(Calls / 4, records.Count(r => r.Stream));
            Assert.All(records, r =>
            {
                Assert.Equal(200, r.Status);
                Assert.NotNull(r.ServedInputTokens);
                Assert.NotNull(r.ServedOutputTokens);
            });
            var servedInput = records.Sum(r => (long)r.ServedInputTokens!.Value);
            var servedOutput = records.Sum(r => (long)r.ServedOutputTokens!.Value);
            Assert.True(servedInput > 0 && servedOutput > 0);
            // The callers were told the same usage.
            Assert.Equal(servedInput, toldInput);
            Assert.Equal(servedOutput, toldOutput);

            await using var restarted = await GatewayProcess.StartAsync(config, directory.FullName);
            var headers = new Metadata { { "authorization", "Bearer " + MasterKey } };
            var usageResponse = await new AdminService.AdminServiceClient(restarted.Channel).GetUsageAsync(
                new GetUsageRequest { GroupBy = { UsageGroup.Model } },
                new CallOptions(headers: headers)).ResponseAsync;

            var row = Assert.Single(usageResponse.Rows);
            Assert.Equal("ledger-model", row.Model);
            Assert.Equal(records.Count, row.Requests);
            Assert.Equal(servedInput, row.InputTokens);
            Assert.Equal(servedOutput, row.OutputTokens);
            var expectedCost = (servedInput * 2.5 + servedOutput * 10) / 1_000_000;
            Assert.True(Math.Abs(row.CostUsd - expectedCost) < 1e-6, $"cost {row.CostUsd}, expected {expectedCost}");
            Assert.Equal(0, await restarted.StopAsync());
        }
        finally
        {
            try
            {
                directory.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A file handle the OS has not released yet; the temp directory is cleaned later.
            }
        }
    }
}
