using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Governance.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Grpc.Governance.Tests.Ledger;

/// <summary>store.ledgerCommitWaitMs: a call can wait for its own row's commit, never longer than its bound.</summary>
public sealed class LedgerCommitWaitTests
{
    private static LedgerEntry Row(string id) => new() { RequestId = id, Timestamp = DateTimeOffset.UtcNow, KeyId = "key_wait", CostUsd = 0.01m };

    private static async Task<long> RowsAsync(IGovernanceStore store)
        => (await store.QueryUsageAsync(new UsageQuery { From = DateTimeOffset.UtcNow.AddDays(-1), To = DateTimeOffset.UtcNow.AddDays(1) }, CancellationToken.None)).Sum(static r => r.Requests);

    [Fact]
    public async Task WaitedRow_IsCommittedWhenEnqueueReturns_WithoutWaitingOutTheBatchWindow()
    {
        var store = new InMemoryGovernanceStore();
        // A ten-minute batching window: a waited row must not be held for it.
        await using var writer = new LedgerWriter(store, NullLogger<LedgerWriter>.Instance, flushInterval: TimeSpan.FromMinutes(10));
        await writer.StartAsync(CancellationToken.None);

        await writer.EnqueueAsync(Row("wait-1"), TimeSpan.FromMinutes(1));
        Assert.Equal(1, await RowsAsync(store));

        await writer.EnqueueAsync(Row("wait-2"), TimeSpan.FromMinutes(1));
        Assert.Equal(2, await RowsAsync(store));
    }

    [Fact]
    public async Task WaitedRow_ArrivesWhileABatchTopsUp_EndsTheTopUp_BothRowsCommitted()
    {
        var store = new InMemoryGovernanceStore();
        await using var writer = new LedgerWriter(store, NullLogger<LedgerWriter>.Instance, flushInterval: TimeSpan.FromMinutes(10));
        await writer.StartAsync(CancellationToken.None);

        // A row nobody waits for: its batch tops up for the ten-minute window.
        writer.Enqueue(Row("unwaited"));
        await Task.Delay(200);
        Assert.Equal(0, await RowsAsync(store));

        // A waited row ends that top-up: it and the row before it are written now.
        var waited = writer.EnqueueAsync(Row("waited"), TimeSpan.FromMinutes(1)).AsTask();
        Assert.Same(waited, await Task.WhenAny(waited, Task.Delay(TimeSpan.FromSeconds(30))));
        Assert.Equal(2, await RowsAsync(store));
    }

    [Fact]
    public async Task StopAsync_DuringATopUp_WritesTheBatchWithoutWaitingOutTheWindow()
    {
        var store = new InMemoryGovernanceStore();
        var writer = new LedgerWriter(store, NullLogger<LedgerWriter>.Instance, flushInterval: TimeSpan.FromMinutes(10));
        await writer.StartAsync(CancellationToken.None);
        writer.Enqueue(Row("queued-1"));
        writer.Enqueue(Row("queued-2"));
        await Task.Delay(200);

        var stop = writer.StopAsync(CancellationToken.None);
        Assert.Same(stop, await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(30))));
        Assert.Equal(2, await RowsAsync(store));
        Assert.Equal(0, writer.Backlog);
    }

    [Fact]
    public async Task StoreFails_WaitEndsAtTheFailure_RowLandsOnARetry()
    {
        var inner = new InMemoryGovernanceStore();
        var store = new FlakyStore(inner, FlakyStore.Mode.FailBeforeWriting, failures: 4);
        await using var writer = new LedgerWriter(store, NullLogger<LedgerWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);

        // A ten-minute wait ends as soon as the store fails: the call is not held for the outage.
        var waited = writer.EnqueueAsync(Row("failed-once"), TimeSpan.FromMinutes(10)).AsTask();
        Assert.Same(waited, await Task.WhenAny(waited, Task.Delay(TimeSpan.FromSeconds(60))));
        Assert.True(store.Failed >= 1);

        await writer.FlushAsync();
        Assert.Equal(4, store.Failed);
        Assert.Equal(1, await RowsAsync(inner));
    }

    [Fact]
    public async Task StoreDown_WaitIsBounded_ThenSkippedWhileFailing_RowsStayQueued()
    {
        var inner = new InMemoryGovernanceStore();
        var store = new FlakyStore(inner, FlakyStore.Mode.FailBeforeWriting, failures: 5);
        await using var writer = new LedgerWriter(store, NullLogger<LedgerWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);

        // The first call waits its bound and goes on without the commit.
        await writer.EnqueueAsync(Row("down-1"), TimeSpan.FromMilliseconds(50));
        await Eventually.HoldsAsync(() => Task.FromResult(writer.Failing), "the writer reports the failing store");

        // While the store fails, a call does not wait at all.
        var second = writer.EnqueueAsync(Row("down-2"), TimeSpan.FromMinutes(1));
        Assert.True(second.IsCompleted);
        await second;

        // Nothing was dropped: both rows land when the store answers again.
        await writer.FlushAsync();
        Assert.Equal(2, await RowsAsync(inner));
        Assert.False(writer.Failing);
    }
}
