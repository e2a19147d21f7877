using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Governance.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Grpc.Governance.Tests.Ledger;

/// <summary>The ledger writer over a real database: nothing lost, nothing doubled, sums exact.</summary>
public abstract class LedgerWriterStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    private IGovernanceStore? _store;

    protected IGovernanceStore Store => _store ?? throw new InvalidOperationException("Not initialized.");

    public async Task InitializeAsync()
    {
        _store = await CreateStoreAsync();
        await _store.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        if (_store is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }
    }

    protected abstract Task<IGovernanceStore> CreateStoreAsync();

    [Fact]
    public async Task TenThousandRowsFromManyTasks_StopAsync_AllWrittenWithExactSums()
    {
        var writer = new LedgerWriter(Store, NullLogger<LedgerWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        const int Producers = 20;
        const int PerProducer = 500;

        await Task.WhenAll(Enumerable.Range(0, Producers).Select(p => Task.Run(() =>
        {
            for (var i = 0; i < PerProducer; i++)
            {
                writer.Enqueue(Row((p * PerProducer) + i));
            }
        })));
        await writer.StopAsync(CancellationToken.None);

        var expected = Enumerable.Range(0, Producers * PerProducer).Select(Row).ToArray();
        var total = Assert.Single(await Store.QueryUsageAsync(new UsageQuery { From = T0, To = T0.AddDays(1) }, CancellationToken.None));
        Assert.Equal(10_000, total.Requests);
        Assert.Equal(expected.Sum(e => e.InputTokens), total.InputTokens);
        Assert.Equal(expected.Sum(e => e.OutputTokens), total.OutputTokens);
        Assert.Equal(expected.Sum(e => e.CostUsd), total.CostUsd);
        Assert.Equal(10_000, writer.Written);
        Assert.Equal(0, writer.Backlog);
    }

    [Theory]
    [InlineData(FlakyStore.Mode.FailBeforeWriting)]
    [InlineData(FlakyStore.Mode.FailAfterWriting)]
    public async Task StoreFailsTransiently_RowsRetried_NoneLostNoneDoubled(FlakyStore.Mode mode)
    {
        // Fails the first two appends: before writing (the batch is retried) or after committing
        // (the acknowledgement was lost; the retry's rows are already there and are skipped).
        var flaky = new FlakyStore(Store, mode, failures: 2);
        var writer = new LedgerWriter(flaky, NullLogger<LedgerWriter>.Instance, batchSize: 100);
        await writer.StartAsync(CancellationToken.None);

        for (var i = 0; i < 1_000; i++)
        {
            writer.Enqueue(Row(i));
        }

        await writer.StopAsync(CancellationToken.None);

        var expected = Enumerable.Range(0, 1_000).Select(Row).ToArray();
        var total = Assert.Single(await Store.QueryUsageAsync(new UsageQuery { From = T0, To = T0.AddDays(1) }, CancellationToken.None));
        Assert.Equal(2, flaky.Failed);
        Assert.Equal(1_000, total.Requests);
        Assert.Equal(expected.Sum(e => e.InputTokens), total.InputTokens);
        Assert.Equal(expected.Sum(e => e.CostUsd), total.CostUsd);
        Assert.Equal(0, writer.Backlog);
    }

    private static LedgerEntry Row(int i) => new()
    {
        RequestId = $"req-{i:D6}",
        Timestamp = T0.AddMilliseconds(i),
        KeyId = $"key-{i % 7}",
        TeamId = $"team-{i % 3}",
        Model = i % 2 == 0 ? "gpt-4o" : "sim-small",
        InputTokens = 1_000 + i,
        OutputTokens = 10 + (i % 97),
        CachedInputTokens = i % 5,
        CostUsd = (0.000001m * i) + 0.000000000123m,
        Attempts = 1,
    };
}

public sealed class SqliteLedgerWriterTests : LedgerWriterStoreTests, IDisposable
{
    private readonly TempDirectory _directory = new();

    protected override Task<IGovernanceStore> CreateStoreAsync()
        => Task.FromResult<IGovernanceStore>(new SqliteGovernanceStore(Path.Combine(_directory.Path, "ledger.db")));

    public void Dispose() => _directory.Dispose();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresLedgerWriterTests(PostgresServer server) : LedgerWriterStoreTests
{
    protected override async Task<IGovernanceStore> CreateStoreAsync() => new PostgresGovernanceStore(await server.CreateSchemaAsync());
}
