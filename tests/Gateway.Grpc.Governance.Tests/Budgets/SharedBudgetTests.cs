using Gateway.Grpc.Governance.Budgets;
using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Governance.Limits;
using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Governance.Tests.Infrastructure;
using Gateway.Grpc.Governance.Tests.Limits;
using Gateway.Grpc.TestSupport;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Grpc.Governance.Tests.Budgets;

/// <summary>
/// Budgets shared by replicas through a real redis-server: each "replica" is a
/// <see cref="BudgetTracker"/> with its own multiplexer, all on one ledger store.
/// </summary>
public sealed class SharedBudgetTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly InMemoryGovernanceStore _store = new();
    private RedisServer _redis = null!;

    public async Task InitializeAsync() => _redis = await RedisServer.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            await owned.DisposeAsync();
        }

        await _redis.DisposeAsync();
    }

    private BudgetTracker Replica(bool failOpen = true, TimeSpan? reservationLifetime = null, int commandTimeoutMs = 5000)
    {
        var connection = new RedisLimitConnection(RedisLimits.Settings(_redis.Endpoint, commandTimeoutMs: commandTimeoutMs), NullLoggerFactory.Instance);
        _owned.Add(connection);
        var tracker = new BudgetTracker(_store, TimeProvider.System, NullLogger<BudgetTracker>.Instance,
            new RedisBudgetBackend(connection, reservationLifetime ?? TimeSpan.FromMinutes(10)), failOpen, TimeSpan.Zero);
        _owned.Add(tracker);
        return tracker;
    }

    private static string Scope() => BudgetTracker.TeamScope("team-" + Guid.NewGuid().ToString("N")[..8]);

    private async Task LedgerAsync(string scope, decimal cost)
        => await _store.AppendLedgerAsync([new LedgerEntry { RequestId = Guid.NewGuid().ToString("N"), Timestamp = DateTimeOffset.UtcNow, TeamId = scope["team:".Length..], CostUsd = cost }], CancellationToken.None);

    [Fact]
    public async Task ThreeReplicas_ConcurrentReservations_AdmitExactlyWhatTheBudgetHolds()
    {
        var replicas = new[] { Replica(), Replica(), Replica() };
        var scope = Scope();

        // 3 replicas x 20 concurrent calls of 0.1 US$ each against 1 US$: exactly 10 fit, whichever replica.
        var attempts = Enumerable.Range(0, 60).Select(i => replicas[i % 3].TryReserveAsync(scope, 1m, 0.1m, CancellationToken.None).AsTask());
        var holds = (await Task.WhenAll(attempts)).Where(static h => h is not null).Select(static h => h!).ToList();
        Assert.Equal(10, holds.Count);

        // Settled below the estimate: the freed share admits more; at the budget every replica refuses.
        foreach (var hold in holds)
        {
            await replicas[0].SettleAsync(hold, 0.05m, 1m, CancellationToken.None);
        }

        foreach (var replica in replicas)
        {
            Assert.Equal(0.5m, await replica.GetSpentAsync(scope, CancellationToken.None));
        }

        var more = 0;
        while (await replicas[more % 3].TryReserveAsync(scope, 1m, 0.1m, CancellationToken.None) is { } hold)
        {
            await replicas[(more + 1) % 3].SettleAsync(hold, 0.1m, 1m, CancellationToken.None);
            more++;
        }

        Assert.Equal(5, more);
        foreach (var replica in replicas)
        {
            Assert.Null(await replica.TryReserveAsync(scope, 1m, 0.01m, CancellationToken.None));
            Assert.Equal(1.0m, await replica.GetSpentAsync(scope, CancellationToken.None));
        }
    }

    [Fact]
    public async Task ReleasedReservation_ReturnsItsShareToEveryReplica()
    {
        var (a, b) = (Replica(), Replica());
        var scope = Scope();
        var hold = await a.TryReserveAsync(scope, 1m, 1m, CancellationToken.None);
        Assert.NotNull(hold);
        Assert.Null(await b.TryReserveAsync(scope, 1m, 0.5m, CancellationToken.None));

        await a.ReleaseAsync(hold);

        Assert.NotNull(await b.TryReserveAsync(scope, 1m, 0.5m, CancellationToken.None));
        Assert.Equal(0m, await b.GetSpentAsync(scope, CancellationToken.None));
    }

    [Fact]
    public async Task ReplicaDiesHoldingReservations_TheyLapseAfterTheirLifetime()
    {
        // 2 s, not less: the survivor's first call opens its own Redis connection, which took more
        // than 300 ms on a loaded 2-core box, and the reservation lapsed before the refusal below.
        var dying = Replica(reservationLifetime: TimeSpan.FromSeconds(2));
        var survivor = Replica();
        var scope = Scope();
        Assert.NotNull(await dying.TryReserveAsync(scope, 1m, 1m, CancellationToken.None));
        // Never settled (its process is gone): the survivor is refused while the reservation lives...
        Assert.Null(await survivor.TryReserveAsync(scope, 1m, 0.5m, CancellationToken.None));

        // ...and admitted once Redis's clock has passed its expiry.
        await Eventually.HoldsAsync(async () => await survivor.TryReserveAsync(scope, 1m, 0.5m, CancellationToken.None) is not null, "the dead replica's reservation lapses");
    }

    [Fact]
    public async Task RedisFlushed_CounterIsSeededFromTheLedger()
    {
        var replica = Replica();
        var scope = Scope();
        await LedgerAsync(scope, 0.7m);
        Assert.Equal(0.7m, await replica.GetSpentAsync(scope, CancellationToken.None));

        var limits = new RedisLimits();
        _owned.Add(limits);
        var admin = await limits.AdminAsync(_redis.Endpoint);
        await admin.ExecuteAsync("FLUSHALL");
        await LedgerAsync(scope, 0.25m);

        // Redis forgot everything: this replica's next reservation seeds the counter from the ledger's 0.95.
        var hold = await replica.TryReserveAsync(scope, 1m, 0.1m, CancellationToken.None);
        Assert.NotNull(hold);
        Assert.Equal(0.95m, await replica.GetSpentAsync(scope, CancellationToken.None));
        await replica.SettleAsync(hold, 0.1m, 1m, CancellationToken.None);
        Assert.Null(await Replica().TryReserveAsync(scope, 1m, 0.01m, CancellationToken.None));
    }

    [Fact]
    public async Task SettlementMissedWhileRedisWasDown_ReconciliationRaisesTheCounterToTheLedger()
    {
        var replica = Replica(commandTimeoutMs: 500);
        var other = Replica(failOpen: false);
        var scope = Scope();
        var hold = await replica.TryReserveAsync(scope, 10m, 1m, CancellationToken.None);
        Assert.NotNull(hold);

        // Redis dies; the call ends, its settlement cannot reach Redis, its ledger row lands.
        _redis.Kill();
        await replica.SettleAsync(hold, 2m, 10m, CancellationToken.None);
        await LedgerAsync(scope, 2m);
        Assert.True(replica.IsDegraded);

        // Redis comes back empty (no persistence): the first reservation seeds from the ledger.
        await _redis.StartAsync();
        await Eventually.HoldsAsync(async () =>
        {
            try
            {
                return await other.TryReserveAsync(scope, 10m, 0m, CancellationToken.None) is not null;
            }
            catch (RpcException)
            {
                return false;
            }
        }, "a replica decides on the restarted Redis");
        Assert.Equal(2m, await other.GetSpentAsync(scope, CancellationToken.None));

        // A settlement Redis never heard of, written to the ledger only: the next round corrects it.
        await LedgerAsync(scope, 3m);
        await other.ReconcileAsync(CancellationToken.None);
        Assert.Equal(5m, await other.GetSpentAsync(scope, CancellationToken.None));

        // Reconciliation never lowers the counter (rows still queued on replicas are in it, not yet in the ledger).
        var queued = await other.TryReserveAsync(scope, 10m, 1m, CancellationToken.None);
        await other.SettleAsync(queued!, 1m, 10m, CancellationToken.None);
        await other.ReconcileAsync(CancellationToken.None);
        Assert.Equal(6m, await other.GetSpentAsync(scope, CancellationToken.None));
    }

    [Fact]
    public async Task RedisDown_FailClosed_RefusesWithUnavailable_FailOpen_DecidesLocally_BothRecover()
    {
        var closed = Replica(failOpen: false, commandTimeoutMs: 500);
        var open = Replica(failOpen: true, commandTimeoutMs: 500);
        var scope = Scope();
        await LedgerAsync(scope, 0.5m);
        Assert.NotNull(await closed.TryReserveAsync(scope, 1m, 0.1m, CancellationToken.None));
        Assert.NotNull(await open.TryReserveAsync(scope, 1m, 0.1m, CancellationToken.None));

        _redis.Kill();

        var refused = await Assert.ThrowsAsync<RpcException>(async () => await closed.TryReserveAsync(scope, 1m, 0.1m, CancellationToken.None));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("Redis", refused.Status.Detail, StringComparison.Ordinal);

        // Fail-open: this replica's own view (the ledger's 0.5 US$ when it loaded the scope) still stops at the budget.
        var local = 0;
        while (await open.TryReserveAsync(scope, 1m, 0.1m, CancellationToken.None) is not null)
        {
            local++;
        }

        Assert.Equal(5, local);
        Assert.True(open.IsDegraded);

        await _redis.StartAsync();
        await Eventually.HoldsAsync(async () =>
        {
            try
            {
                return await closed.TryReserveAsync(scope, 100m, 0m, CancellationToken.None) is not null && !closed.IsDegraded;
            }
            catch (RpcException)
            {
                return false;
            }
        }, "the fail-closed replica admits again by itself");
        await Eventually.HoldsAsync(async () => await open.TryReserveAsync(scope, 100m, 0m, CancellationToken.None) is not null && !open.IsDegraded, "the fail-open replica is back on the shared counters");
    }

    [Fact]
    public async Task KeyRevokedOnOneReplica_OtherReplicaRefusesItWithoutWaitingForItsCache()
    {
        var (secret, prefix, hash) = ApiKeys.Generate();
        await _store.CreateKeyAsync(new KeyRecord { Id = "key_" + prefix, Prefix = prefix, Hash = hash }, CancellationToken.None);
        var replicas = new List<(KeyAuthenticator Auth, KeyInvalidationChannel Channel)>();
        for (var i = 0; i < 2; i++)
        {
            var connection = new RedisLimitConnection(RedisLimits.Settings(_redis.Endpoint), NullLoggerFactory.Instance);
            _owned.Add(connection);
            // A cache TTL of an hour: only the published change can make the other replica see the revoke.
            var auth = new KeyAuthenticator(_store, TimeProvider.System, static () => null) { CacheTtl = TimeSpan.FromHours(1) };
            var channel = new KeyInvalidationChannel(connection, auth, TimeProvider.System, NullLogger<KeyInvalidationChannel>.Instance);
            await channel.StartAsync(CancellationToken.None);
            _owned.Add(new StopOnDispose(channel));
            replicas.Add((auth, channel));
        }

        await Eventually.HoldsAsync(() => Task.FromResult(replicas.TrueForAll(static r => r.Channel.IsSubscribed)), "both replicas subscribe");
        foreach (var (auth, _) in replicas)
        {
            Assert.NotNull((await auth.AuthenticateAsync(secret, CancellationToken.None)).Principal);
        }

        // Replica 0 revokes (what AdminService.RevokeKey does: store, then Invalidate).
        var key = await _store.GetKeyAsync("key_" + prefix, CancellationToken.None);
        await _store.UpdateKeyAsync(key! with { RevokedAt = DateTimeOffset.UtcNow }, CancellationToken.None);
        replicas[0].Auth.Invalidate();

        Assert.Equal(AuthFailure.Revoked, (await replicas[0].Auth.AuthenticateAsync(secret, CancellationToken.None)).Failure);
        await Eventually.HoldsAsync(async () => (await replicas[1].Auth.AuthenticateAsync(secret, CancellationToken.None)).Failure == AuthFailure.Revoked, "the other replica refuses the revoked key");
    }

    private sealed class StopOnDispose(KeyInvalidationChannel channel) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await channel.StopAsync(CancellationToken.None);
    }
}
