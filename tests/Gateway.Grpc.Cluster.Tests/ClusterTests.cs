using System.Collections.Concurrent;
using System.Diagnostics;
using Gateway.Admin.V1;
using Gateway.Grpc.Cluster.Tests.Infrastructure;
using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.TestSupport;
using Gateway.Grpc.Governance.Tests.Infrastructure;
using Gateway.V1;
using Grpc.Core;
using StackExchange.Redis;

namespace Gateway.Grpc.Cluster.Tests;

/// <summary>
/// Three gateway processes behind nginx behave as one under concurrent load and faults: shared
/// limits and budgets, a replica killed with SIGKILL, Redis stopped for 10 s, PostgreSQL restarted.
/// The tests of this class share one cluster and run one at a time; each uses its own models,
/// keys and request ids, and copes with a replica a previous test killed.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterTests(ClusterFixture cluster, Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task GlobalRpmAndTpmLimits_HoldWithinTwoPercentAcrossReplicas()
    {
        // Round-robin over the replicas directly, so every replica takes a third of the calls: the
        // limits hold only if the counters are shared (alone, each replica would admit the limit).
        var replicas = cluster.Live.Select(static r => new Completion.CompletionClient(r.Channel)).ToArray();
        var clock = Stopwatch.StartNew();

        var rpmAdmitted = 0;
        var rpmRefused = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, 420), new ParallelOptions { MaxDegreeOfParallelism = 24 }, async (i, ct) =>
        {
            try
            {
                await replicas[i % replicas.Length].CompleteAsync(Requests.Chat("rpm-model", "rpm " + i, 4), deadline: DateTime.UtcNow + CallTimeout, cancellationToken: ct);
                Interlocked.Increment(ref rpmAdmitted);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                Interlocked.Increment(ref rpmRefused);
            }
        });

        Assert.Equal(420, rpmAdmitted + rpmRefused);
        Assert.InRange(rpmAdmitted, 294, 300);

        // Tokens: keep calling until refused, then once more one at a time so capacity returned by
        // settlements is used; the tokens the provider served must be the limit within 2 %.
        long tokens = 0;
        var tpmRefused = 0;
        async Task TpmCallAsync(int i, CancellationToken ct)
        {
            try
            {
                var response = await replicas[i % replicas.Length].CompleteAsync(Requests.Chat("tpm-model", "tpm " + i + " " + new string('y', 120), 12), deadline: DateTime.UtcNow + CallTimeout, cancellationToken: ct);
                Interlocked.Add(ref tokens, response.Usage.InputTokens + response.Usage.OutputTokens);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                Interlocked.Increment(ref tpmRefused);
            }
        }

        await Parallel.ForEachAsync(Enumerable.Range(0, 300), new ParallelOptions { MaxDegreeOfParallelism = 24 }, async (i, ct) => await TpmCallAsync(i, ct));
        for (var i = 300; i < 330; i++)
        {
            await TpmCallAsync(i, CancellationToken.None);
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(55), $"the limit phase took {clock.Elapsed}: longer than the 60 s window, so its counts mean nothing");
        Assert.True(tpmRefused > 0, "the token limit never refused");
        output.WriteLine($"RPM: {rpmAdmitted} of 420 admitted (limit 300); TPM: {tokens} tokens served (limit 12000), {tpmRefused} refused; {clock.Elapsed}");
        Assert.InRange(tokens, 12_000 * 98 / 100, 12_000 * 102 / 100);
    }

    [Fact]
    public async Task TeamBudget_StopsEveryReplicaWithinOneCallOfCrossingIt()
    {
        const double Budget = 0.02;
        var admin = new AdminService.AdminServiceClient(cluster.Balanced);
        var team = (await admin.CreateTeamAsync(new CreateTeamRequest { Team = new Team { Name = "budget-team", Limits = new Limits { MonthlyBudgetUsd = Budget } } }, cluster.Admin)).Team;
        var key = await admin.CreateKeyAsync(new CreateKeyRequest { Key = new Key { Name = "budget-key", TeamId = team.Id } }, cluster.Admin);
        var auth = new Metadata { { "authorization", "Bearer " + key.Secret } };
        var replicas = cluster.Live.Select(static r => new Completion.CompletionClient(r.Channel)).ToArray();

        // 12 callers spread over every replica until each has been refused for the budget.
        var costs = new ConcurrentBag<double>();
        var calls = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, 12), new ParallelOptions { MaxDegreeOfParallelism = 12 }, async (worker, ct) =>
        {
            for (var n = 0; ; n++)
            {
                var i = Interlocked.Increment(ref calls);
                try
                {
                    var response = await replicas[i % replicas.Length].CompleteAsync(Requests.Chat("budget-model", $"budget {worker} {n} " + new string('z', 200), 16), auth, DateTime.UtcNow + CallTimeout, ct);
                    costs.Add(response.Usage.CostUsd);
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
                {
                    Assert.Equal("budget_exceeded", ex.Trailers.GetValue("gateway-error-kind"));
                    return;
                }
            }
        });

        // Nothing in flight now: every replica refuses the team (its spend has reached the budget)...
        foreach (var replica in replicas)
        {
            var refused = await Assert.ThrowsAsync<RpcException>(async () => await replica.CompleteAsync(Requests.Chat("budget-model", "one more", 16), auth, DateTime.UtcNow + CallTimeout));
            Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        }

        // ...and it crossed the budget by less than one call. The ledger agrees with the callers.
        await Eventually.HoldsAsync(async () => Math.Abs((double)await cluster.TeamSpendAsync(team.Id) - costs.Sum()) < 1e-9, "the ledger holds every answered call", TimeSpan.FromSeconds(30));
        var spent = (double)await cluster.TeamSpendAsync(team.Id);
        output.WriteLine($"budget {Budget}: {costs.Count} calls spent {spent} (largest call {costs.Max()})");
        Assert.Equal(costs.Sum(), spent, 9);
        Assert.True(spent >= Budget, $"spent {spent} of {Budget}");
        Assert.True(spent - Budget < costs.Max(), $"spent {spent} of {Budget}: crossed by more than one call ({costs.Max()}) over {costs.Count} calls");
        Assert.True(costs.Count > 20, $"only {costs.Count} calls fitted the budget");
    }

    [Fact]
    public async Task KeyRevokedThroughOneReplica_EveryReplicaRefusesIt()
    {
        var replicas = cluster.Live.ToArray();
        var admin = new AdminService.AdminServiceClient(replicas[0].Channel);
        var key = await admin.CreateKeyAsync(new CreateKeyRequest { Key = new Key { Name = "revoke-key" } }, cluster.Admin);
        var auth = new Metadata { { "authorization", "Bearer " + key.Secret } };

        // Every replica has the key in its lookup cache...
        foreach (var replica in replicas)
        {
            await new Completion.CompletionClient(replica.Channel).CompleteAsync(Requests.Chat("load-model", "hello", 4), auth, DateTime.UtcNow + CallTimeout);
        }

        // ...and one of them revokes it: the others hear it over Redis (the 1 s cache TTL is the backstop).
        var clock = Stopwatch.StartNew();
        await admin.RevokeKeyAsync(new RevokeKeyRequest { Id = key.Key.Id }, cluster.Admin);
        foreach (var replica in replicas)
        {
            var client = new Completion.CompletionClient(replica.Channel);
            await Eventually.HoldsAsync(async () =>
            {
                try
                {
                    await client.CompleteAsync(Requests.Chat("load-model", "still?", 4), auth, DateTime.UtcNow + CallTimeout);
                    return false;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.Unauthenticated)
                {
                    Assert.Contains("revoked", ex.Status.Detail, StringComparison.Ordinal);
                    return true;
                }
            }, "the replica refuses the revoked key");
        }

        output.WriteLine($"every replica refused the revoked key {clock.ElapsedMilliseconds} ms after the revoke");
    }

    [Fact]
    public async Task ReplicaKilledMidLoad_RetryingCallersSeeNoFailure_LedgerLosesNoCompletedCall()
    {
        const int Calls = 360;
        var since = cluster.Simulator.State.LastRequestId;
        var client = new Completion.CompletionClient(cluster.Balanced);
        var victim = cluster.Live.Last();
        var answered = new ConcurrentDictionary<string, Usage>(StringComparer.Ordinal);
        var failures = new ConcurrentBag<string>();
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, Calls), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            var id = $"kill-{i:D4}";
            try
            {
                // The caller's x-request-id is the ledger's request id, also on a retry (one row per call).
                var response = await client.CompleteAsync(Requests.Chat("load-model", $"[{id}] tell me more", 8), new Metadata { { "x-request-id", id } }, DateTime.UtcNow + CallTimeout, ct);
                answered[id] = response.Usage;
            }
            catch (RpcException ex)
            {
                failures.Add($"{id}: {ex.Status}");
            }

            if (Interlocked.Increment(ref done) == Calls / 3)
            {
                // A third of the way: SIGKILL one replica while the others carry calls in flight.
                victim.KillHard();
                killed.TrySetResult();
            }
        });

        Assert.True(killed.Task.IsCompleted);
        Assert.True(failures.IsEmpty, $"{failures.Count} calls failed, e.g. {string.Join("; ", failures.Take(5))}\n{cluster.Nginx.ErrorLog}");
        Assert.Equal(Calls, answered.Count);

        // Every answered call is in the ledger (its row was committed before the answer went out,
        // so the killed replica took none with it)...
        await Eventually.HoldsAsync(async () => (await cluster.LedgerAsync("kill-")).Count >= Calls, "every answered call's row is in the ledger", TimeSpan.FromSeconds(30));
        var ledger = await cluster.LedgerAsync("kill-");
        Assert.Equal(answered.Keys.Order(), ledger.Keys.Order());
        foreach (var (id, usage) in answered)
        {
            Assert.Equal(("OK", usage.InputTokens, usage.OutputTokens), (ledger[id].Status, ledger[id].Input, ledger[id].Output));
        }

        // ...and agrees with what the provider served: each row has a served record with its tokens;
        // the only served requests without an answer are the few cut off by the kill (then retried).
        var served = cluster.Simulator.RequestsSince(since).Where(static r => r.Body.Contains("[kill-", StringComparison.Ordinal)).ToList();
        var servedById = served.Where(static r => r.ServedOutputTokens is not null)
            .GroupBy(static r => r.Body[(r.Body.IndexOf("[kill-", StringComparison.Ordinal) + 1)..(r.Body.IndexOf("[kill-", StringComparison.Ordinal) + 10)])
            .ToDictionary(static g => g.Key, static g => g.ToList());
        foreach (var (id, row) in ledger)
        {
            Assert.True(servedById.TryGetValue(id, out var records), $"{id} is in the ledger but the simulator never served it");
            Assert.Contains(records, r => r.ServedInputTokens == row.Input && r.ServedOutputTokens == row.Output);
        }

        var upstreamErrors = cluster.Nginx.ErrorLog.Split('\n').Count(line => line.Contains("[error]", StringComparison.Ordinal) && line.Contains(":" + victim.GrpcPort, StringComparison.Ordinal));
        output.WriteLine($"{Calls} calls answered, {served.Count} served by the provider, {upstreamErrors} upstream errors from the killed replica in nginx's log");
        Assert.True(upstreamErrors > 0, "nginx never noticed the killed replica: the test did not test the kill");
        Assert.InRange(served.Count - Calls, 0, 16);
    }

    [Fact]
    public async Task RedisStoppedForTenSeconds_FailOpenKeepsServing_FailClosedRefuses_BothComeBackByThemselves()
    {
        // One more replica, outside the balancer, configured failOpen: false.
        await using var closed = await cluster.StartExtraAsync(new Dictionary<string, string?> { ["rateLimits:failOpen"] = "false" });
        var closedClient = new Completion.CompletionClient(closed.Channel);
        var admin = new AdminService.AdminServiceClient(cluster.Balanced);
        var team = (await admin.CreateTeamAsync(new CreateTeamRequest { Team = new Team { Name = "redis-team", Limits = new Limits { MonthlyBudgetUsd = 1000 } } }, cluster.Admin)).Team;
        var key = await admin.CreateKeyAsync(new CreateKeyRequest { Key = new Key { Name = "redis-key", TeamId = team.Id, Limits = new Limits { RequestsPerMinute = 100_000 } } }, cluster.Admin);
        var auth = new Metadata { { "authorization", "Bearer " + key.Secret } };
        var client = new Completion.CompletionClient(cluster.Balanced);
        await client.CompleteAsync(Requests.Chat("load-model", "before", 4), auth, DateTime.UtcNow + CallTimeout);
        await closedClient.CompleteAsync(Requests.Chat("load-model", "before", 4), auth, DateTime.UtcNow + CallTimeout);

        await using var probe = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.Endpoint + ",abortConnect=false");
        var rpmCounter = (RedisKey)("gw:rl:key:" + key.Key.Id + ":rpm");
        var budgetCounter = (RedisKey)("gw:bg:{team:" + team.Id + ":" + DateTime.UtcNow.ToString("yyyy-MM") + "}");
        Assert.True(await probe.GetDatabase().KeyExistsAsync(rpmCounter));
        Assert.True(await probe.GetDatabase().HashExistsAsync(budgetCounter, "seeded"));

        // One call on every replica first: a replica's first call for a key and team it has not
        // served yet is slow by itself (cold code, the budget scope read from the ledger), Redis or
        // not; the outage below then shows what the failover itself costs.
        foreach (var replica in cluster.Live)
        {
            var warm = Stopwatch.StartNew();
            await new Completion.CompletionClient(replica.Channel).CompleteAsync(Requests.Chat("load-model", "warm", 4), auth, DateTime.UtcNow + CallTimeout);
            output.WriteLine($"first call for this key on a replica, Redis up: {warm.Elapsed.TotalMilliseconds:0} ms");
        }

        // Redis is gone for 10 s: with failOpen the replicas decide on their own counters and serve.
        cluster.Redis.Kill();
        var outage = Stopwatch.StartNew();
        var served = 0;
        var slowest = TimeSpan.Zero;
        while (outage.Elapsed < TimeSpan.FromSeconds(10))
        {
            var call = Stopwatch.StartNew();
            await client.CompleteAsync(Requests.Chat("load-model", "during " + served, 4), auth, DateTime.UtcNow + CallTimeout);
            slowest = call.Elapsed > slowest ? call.Elapsed : slowest;
            if (served < 3)
            {
                output.WriteLine($"call {served} after Redis died: {call.Elapsed.TotalMilliseconds:0} ms");
            }

            served++;
        }

        Assert.True(served > 0);

        // Readiness says so: degraded (still serving) on the fail-open replicas, not ready on the fail-closed one.
        foreach (var replica in cluster.Live)
        {
            Assert.Equal((200, "degraded"), await ReadyzRedisAsync(replica));
        }

        Assert.Equal((503, "unhealthy"), await ReadyzRedisAsync(closed));

        // The fail-closed replica refuses calls it cannot check (limits, budget) with UNAVAILABLE.
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await closedClient.CompleteAsync(Requests.Chat("load-model", "during", 4), auth, DateTime.UtcNow + CallTimeout));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("Redis", refused.Status.Detail, StringComparison.Ordinal);
        output.WriteLine($"{served} calls served while Redis was down, the slowest in {slowest.TotalMilliseconds:0} ms");

        // Back (empty: no persistence). Without a restart the replicas count in Redis again, and the
        // budget counter is seeded from the ledger, calls made during the outage included.
        await cluster.Redis.StartAsync();
        await Eventually.HoldsAsync(async () =>
        {
            await client.CompleteAsync(Requests.Chat("load-model", "after", 4), auth, DateTime.UtcNow + CallTimeout);
            var db = probe.GetDatabase();
            return probe.IsConnected && await db.KeyExistsAsync(rpmCounter) && await db.HashExistsAsync(budgetCounter, "seeded");
        }, "the replicas share counters in the restarted Redis", TimeSpan.FromSeconds(60));
        await Eventually.HoldsAsync(async () =>
        {
            try
            {
                await closedClient.CompleteAsync(Requests.Chat("load-model", "after", 4), auth, DateTime.UtcNow + CallTimeout);
                return true;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
            {
                return false;
            }
        }, "the fail-closed replica serves again by itself", TimeSpan.FromSeconds(60));
        foreach (var replica in cluster.Live.Append(closed))
        {
            await Eventually.HoldsAsync(async () => await ReadyzRedisAsync(replica) == (200, "healthy"), "every replica is connected to Redis again", TimeSpan.FromSeconds(60));
        }

        var ledgerSpend = await cluster.TeamSpendAsync(team.Id);
        await Eventually.HoldsAsync(async () =>
        {
            var spent = (long)await probe.GetDatabase().HashGetAsync(budgetCounter, "spent");
            return spent >= (long)(ledgerSpend * 1_000_000_000m);
        }, "the shared budget counter holds at least the ledger's spend", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task PostgresRestarted_CallsGoOn_LedgerRowsBufferAndLand()
    {
        var admin = new AdminService.AdminServiceClient(cluster.Balanced);
        var key = await admin.CreateKeyAsync(new CreateKeyRequest { Key = new Key { Name = "pg-key" } }, cluster.Admin);
        var client = new Completion.CompletionClient(cluster.Balanced);
        var answered = new List<string>();
        async Task CallAsync(string id, bool withKey)
        {
            var headers = new Metadata { { "x-request-id", id } };
            if (withKey)
            {
                headers.Add("authorization", "Bearer " + key.Secret);
            }

            await client.CompleteAsync(Requests.Chat("load-model", $"[{id}] ledger", 4), headers, DateTime.UtcNow + CallTimeout);
            answered.Add(id);
        }

        // Every live replica has seen the key before the store goes away.
        for (var i = 0; i < 2 * ClusterFixture.Replicas; i++)
        {
            await CallAsync($"pg-before-{i}", withKey: true);
        }

        await cluster.Postgres.StopAsync();
        try
        {
            // The store is down: calls are answered (keys seen before keep working), their rows
            // wait in the replicas' queues.
            for (var i = 0; i < 30; i++)
            {
                await CallAsync($"pg-during-{i:D2}", withKey: i % 2 == 0);
            }
        }
        finally
        {
            await cluster.Postgres.StartAsync();
        }

        await CallAsync("pg-after", withKey: true);
        await Eventually.HoldsAsync(async () =>
        {
            try
            {
                return (await cluster.LedgerAsync("pg-")).Count == answered.Count;
            }
            catch (Npgsql.NpgsqlException)
            {
                return false;
            }
        }, "every answered call's row lands in the restarted PostgreSQL", TimeSpan.FromSeconds(60));
        var ledger = await cluster.LedgerAsync("pg-");
        Assert.Equal(answered.Order(), ledger.Keys.Order());
        Assert.All(ledger.Values, static row => Assert.Equal("OK", row.Status));
    }

    /// <summary>A replica's /readyz: its HTTP status and its "redis" check's status.</summary>
    private static async Task<(int Code, string Redis)> ReadyzRedisAsync(GatewayProcess replica)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{replica.HttpPort}/readyz"));
        using var body = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return ((int)response.StatusCode, body.RootElement.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString()!);
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
