using Gateway.Admin.V1;
using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Net.Client;
using Gateway.V1;

namespace Gateway.Grpc.EndToEnd.Tests;

/// <summary>
/// The spend ledger after a load run and a graceful restart: every call's usage, as the
/// provider (the simulator, over the OpenAI wire format) reported it, is in the SQLite ledger,
/// to the token, when read back by a new gateway process on the same file.
/// </summary>
[Collection("EndToEnd")]
public sealed class LedgerRestartTests(SimulatorFixture sim)
{
    private const string MasterKeyEnv = "E2E_GATEWAY_MASTER_KEY";
    private const string MasterKey = "mk-e2e-3b9d0c7f5a21";
    private const int Calls = 200;

    [Fact]
    public async Task LoadRunThenGracefulRestart_LedgerTokensEqualServedUsage()
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

            long servedInput = 0;
            long servedOutput = 0;
            var gateway = await GatewayHost.StartAsync(config);
            try
            {
                // Fixed seed: prompt lengths, max_tokens and which calls stream are the same every run.
                var random = new Random(20240611);
                var plan = Enumerable.Range(0, Calls).Select(i => (Prompt: "Load call " + i + " " + new string('x', random.Next(0, 400)), MaxTokens: random.Next(1, 48), Stream: i % 4 == 0)).ToArray();
                await Parallel.ForEachAsync(plan, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (call, ct) =>
                {
                    var request = Requests.Chat("ledger-model", call.Prompt, call.MaxTokens);
                    Usage usage;
                    if (call.Stream)
                    {
                        var result = await gateway.StreamAsync(request);
                        Assert.True(result.Status.StatusCode == StatusCode.OK, result.Describe());
                        usage = result.Usage!;
                    }
                    else
                    {
                        usage = (await gateway.CompleteAsync(request)).Usage;
                    }

                    Assert.False(usage.Estimated);
                    Assert.InRange(usage.OutputTokens, 1, call.MaxTokens);
                    Assert.True(usage.InputTokens > 0);
                    Interlocked.Add(ref servedInput, usage.InputTokens);
                    Interlocked.Add(ref servedOutput, usage.OutputTokens);
                });
            }
            finally
            {
                // Graceful: the ledger writer drains its queue on shutdown.
                await gateway.StopAsync();
            }

            var records = sim.RequestsSince(since);
            Assert.Equal(Calls, records.Count);
            Assert.Equal(Calls / 4, records.Count(r => r.Stream));
            Assert.All(records, r => Assert.Equal(200, r.Status));

            await using var restarted = await GatewayHost.StartAsync(config);
            var headers = new Metadata { { "authorization", "Bearer " + MasterKey } };
            var usageResponse = await new AdminService.AdminServiceClient(restarted.Channel).GetUsageAsync(
                new GetUsageRequest { GroupBy = { UsageGroup.Model } },
                new CallOptions(headers: headers)).ResponseAsync;

            var row = Assert.Single(usageResponse.Rows);
            Assert.Equal("ledger-model", row.Model);
            Assert.Equal(Calls, row.Requests);
            Assert.Equal(servedInput, row.InputTokens);
            Assert.Equal(servedOutput, row.OutputTokens);
            var expectedCost = (servedInput * 2.5 + servedOutput * 10) / 1_000_000;
            Assert.True(Math.Abs(row.CostUsd - expectedCost) < 1e-6, $"cost {row.CostUsd}, expected {expectedCost}");
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
