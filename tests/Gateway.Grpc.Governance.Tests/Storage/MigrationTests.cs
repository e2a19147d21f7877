using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Governance.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Gateway.Grpc.Governance.Tests.Storage;

public sealed class SqliteMigrationTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Migrate_MissingDirectories_CreatesThemAndAWalDatabase()
    {
        var path = Path.Combine(_directory.Path, "a", "b", "gateway.db");
        await using var store = new SqliteGovernanceStore(path);

        await store.MigrateAsync(CancellationToken.None);

        Assert.True(File.Exists(path));
        Assert.Equal("wal", await ScalarAsync(path, "PRAGMA journal_mode"));
        Assert.Equal("1,2,3,4,5", await ScalarAsync(path, "SELECT group_concat(version, ',') FROM (SELECT version FROM gw_schema_migrations ORDER BY version)"));
    }

    [Fact]
    public async Task Migrate_RelativePath_IsUnderTheCurrentDirectory()
    {
        await using var store = new SqliteGovernanceStore("data/gateway.db");

        Assert.Equal(Path.Combine(Environment.CurrentDirectory, "data", "gateway.db"), store.FullPath);
    }

    [Fact]
    public async Task Migrate_ManyStoresOnOneFileAtOnce_AppliesEachVersionOnce()
    {
        var path = Path.Combine(_directory.Path, "shared.db");
        var stores = Enumerable.Range(0, 4).Select(_ => new SqliteGovernanceStore(path)).ToArray();
        try
        {
            await Task.WhenAll(stores.Select(s => Task.Run(() => s.MigrateAsync(CancellationToken.None))));

            Assert.Equal("5", await ScalarAsync(path, "SELECT COUNT(*) FROM gw_schema_migrations"));
            await stores[0].CreateTeamAsync(new TeamRecord { Id = "t", Name = "t" }, CancellationToken.None);
            Assert.NotNull(await stores[3].GetTeamAsync("t", CancellationToken.None));
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Migrate_DatabaseFromANewerGateway_FailsNamingTheVersionAndPath()
    {
        var path = Path.Combine(_directory.Path, "newer.db");
        await using var store = new SqliteGovernanceStore(path);
        await store.MigrateAsync(CancellationToken.None);
        await ScalarAsync(path, "INSERT INTO gw_schema_migrations (version, name) VALUES (99, 'future')");

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => store.MigrateAsync(CancellationToken.None));

        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_PathUnderAFile_FailsNamingThePath()
    {
        var blocker = Path.Combine(_directory.Path, "not-a-dir");
        await File.WriteAllTextAsync(blocker, "x");
        await using var store = new SqliteGovernanceStore(Path.Combine(blocker, "gateway.db"));

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => store.MigrateAsync(CancellationToken.None));

        Assert.Contains(Path.Combine(blocker, "gateway.db"), ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData(":memory:")]
    public void Constructor_NotAFilePath_ThrowsNamingTheKey(string path)
    {
        var ex = Assert.Throws<ArgumentException>(() => new SqliteGovernanceStore(path));

        Assert.Contains("store:path", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Money_IsStoredAsExactDecimalText()
    {
        var path = Path.Combine(_directory.Path, "money.db");
        await using var store = new SqliteGovernanceStore(path);
        await store.MigrateAsync(CancellationToken.None);

        await store.AppendLedgerAsync([new LedgerEntry { RequestId = "r", CostUsd = 0.000000123456789012345678m }], CancellationToken.None);

        Assert.Equal("0.000000123456789012345678", await ScalarAsync(path, "SELECT cost_usd FROM gw_ledger"));
    }

    [Fact]
    public async Task Ledger_CacheHit_StoresResultAndSavedCost()
    {
        var path = Path.Combine(_directory.Path, "cache.db");
        await using var store = new SqliteGovernanceStore(path);
        await store.MigrateAsync(CancellationToken.None);

        await store.AppendLedgerAsync([new LedgerEntry { RequestId = "hit", Cache = "hit_semantic", SavedCostUsd = 0.0012345m }, new LedgerEntry { RequestId = "miss", CostUsd = 0.5m }], CancellationToken.None);

        Assert.Equal("hit_semantic|0.0012345|0", await ScalarAsync(path, "SELECT cache || '|' || saved_cost_usd || '|' || cost_usd FROM gw_ledger WHERE request_id = 'hit'"));
        Assert.Equal("|0", await ScalarAsync(path, "SELECT cache || '|' || saved_cost_usd FROM gw_ledger WHERE request_id = 'miss'"));
    }

    [Fact]
    public async Task Migrate_FromVersion4_BackfillsTheRollupFromTheLedger()
    {
        var path = Path.Combine(_directory.Path, "upgrade.db");
        await using var store = new SqliteGovernanceStore(path);
        await store.MigrateAsync(CancellationToken.None);
        await store.AppendLedgerAsync(RollupBackfill.Ledger, CancellationToken.None);

        // Back to version 4 (step 5 undone: no rollup, the three ledger indexes back), then up again.
        foreach (var statement in RollupBackfill.UndoStep5)
        {
            await ScalarAsync(path, statement);
        }

        Assert.Equal("0", await ScalarAsync(path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'gw_usage_hourly'"));
        await store.MigrateAsync(CancellationToken.None);

        Assert.Equal("5", await ScalarAsync(path, "SELECT MAX(version) FROM gw_schema_migrations"));
        Assert.Equal("gw_ledger_ts", await ScalarAsync(path, "SELECT group_concat(name) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'gw_ledger' AND name LIKE 'gw_%'"));
        Assert.True(long.Parse(await ScalarAsync(path, "SELECT COUNT(*) FROM gw_usage_hourly") ?? "0", System.Globalization.CultureInfo.InvariantCulture) > 10);
        await RollupBackfill.AssertMatchesReferenceAsync(store);
    }

    private static async Task<string?> ScalarAsync(string path, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresMigrationTests(PostgresServer server)
{
    [Fact]
    public async Task Migrate_ManyReplicasAtOnce_AppliesEachVersionOnce()
    {
        // Several rounds on fresh schemas: a missing lock shows up as "relation already exists"
        // or a duplicate key in gw_schema_migrations in at least one of them.
        for (var round = 0; round < 3; round++)
        {
            var connectionString = await server.CreateSchemaAsync();
            var stores = Enumerable.Range(0, 4).Select(_ => new PostgresGovernanceStore(connectionString)).ToArray();
            try
            {
                using var start = new Barrier(stores.Length);
                await Task.WhenAll(stores.Select(s => Task.Run(async () =>
                {
                    start.SignalAndWait(TimeSpan.FromSeconds(10));
                    await s.MigrateAsync(CancellationToken.None);
                })));

                Assert.Equal(5L, await ScalarAsync(connectionString, "SELECT COUNT(*) FROM gw_schema_migrations"));
                Assert.Equal(5L, await ScalarAsync(connectionString, "SELECT MAX(version) FROM gw_schema_migrations"));
                await stores[0].CreateTeamAsync(new TeamRecord { Id = "t", Name = "t" }, CancellationToken.None);
                Assert.NotNull(await stores[3].GetTeamAsync("t", CancellationToken.None));
            }
            finally
            {
                foreach (var store in stores)
                {
                    await store.DisposeAsync();
                }
            }
        }
    }

    [Fact]
    public async Task Migrate_DatabaseFromANewerGateway_FailsNamingTheVersion()
    {
        var connectionString = await server.CreateSchemaAsync();
        await using var store = new PostgresGovernanceStore(connectionString);
        await store.MigrateAsync(CancellationToken.None);
        await ScalarAsync(connectionString, "INSERT INTO gw_schema_migrations (version, name) VALUES (99, 'future') RETURNING version");

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => store.MigrateAsync(CancellationToken.None));

        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"port={server.Port}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_ServerUnreachable_FailsWithHostAndWithoutThePassword()
    {
        var closedPort = Gateway.Grpc.TestSupport.LoopbackPort.Reserve();
        await using var store = new PostgresGovernanceStore($"Host=127.0.0.1;Port={closedPort};Database=gw;Username=gw;Password=hunter2-secret;Timeout=3");

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => store.MigrateAsync(CancellationToken.None));

        Assert.Contains($"port={closedPort}", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-secret", ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_MalformedConnectionString_ThrowsWithoutEchoingIt()
    {
        var ex = Assert.Throws<ArgumentException>(() => new PostgresGovernanceStore("Host=db;Password=hunter2-secret;NoSuchKeyword=1"));

        Assert.Contains("store:connectionString", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-secret", ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ledger_SchemaHasUniqueRequestIdAndUsageIndexes()
    {
        var connectionString = await server.CreateSchemaAsync();
        await using var store = new PostgresGovernanceStore(connectionString);
        await store.MigrateAsync(CancellationToken.None);

        // The ledger keeps its ts index (edge hours); per-key/team/model reads go to the rollup.
        var indexes = await TextAsync(connectionString, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ('gw_ledger', 'gw_usage_hourly') AND indexdef NOT LIKE 'CREATE UNIQUE%'");
        var unique = await ScalarAsync(connectionString, "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'gw_ledger' AND indexdef LIKE 'CREATE UNIQUE INDEX % (request_id)'");

        Assert.Equal("gw_ledger_ts,gw_usage_hourly_key,gw_usage_hourly_team", indexes);
        Assert.Equal(1L, unique);
    }

    [Fact]
    public async Task Ledger_CacheHit_StoresResultAndSavedCost()
    {
        var connectionString = await server.CreateSchemaAsync();
        await using var store = new PostgresGovernanceStore(connectionString);
        await store.MigrateAsync(CancellationToken.None);

        await store.AppendLedgerAsync([new LedgerEntry { RequestId = "hit", Cache = "hit_exact", SavedCostUsd = 0.0012345m }, new LedgerEntry { RequestId = "miss", CostUsd = 0.5m }], CancellationToken.None);

        Assert.Equal(1L, await ScalarAsync(connectionString, "SELECT COUNT(*) FROM gw_ledger WHERE request_id = 'hit' AND cache = 'hit_exact' AND saved_cost_usd = 0.0012345 AND cost_usd = 0"));
        Assert.Equal(1L, await ScalarAsync(connectionString, "SELECT COUNT(*) FROM gw_ledger WHERE request_id = 'miss' AND cache = '' AND saved_cost_usd = 0"));
    }

    [Fact]
    public async Task Migrate_FromVersion4_BackfillsTheRollupFromTheLedger()
    {
        var connectionString = await server.CreateSchemaAsync();
        await using var store = new PostgresGovernanceStore(connectionString);
        await store.MigrateAsync(CancellationToken.None);
        await store.AppendLedgerAsync(RollupBackfill.Ledger, CancellationToken.None);

        // Back to version 4 (step 5 undone: no rollup, the three ledger indexes back), then up again.
        foreach (var statement in RollupBackfill.UndoStep5)
        {
            await TextAsync(connectionString, statement);
        }

        Assert.Equal(0L, await ScalarAsync(connectionString, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'gw_usage_hourly'"));
        await store.MigrateAsync(CancellationToken.None);

        Assert.Equal(5L, await ScalarAsync(connectionString, "SELECT MAX(version) FROM gw_schema_migrations"));
        Assert.True(await ScalarAsync(connectionString, "SELECT COUNT(*) FROM gw_usage_hourly") > 10);
        await RollupBackfill.AssertMatchesReferenceAsync(store);
    }

    private static async Task<string?> TextAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<long> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>A ledger spread over hours, and the check that a store's usage over it (whole and cut hours) is the reference's.</summary>
internal static class RollupBackfill
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    public static readonly string[] UndoStep5 =
    [
        "DROP TABLE gw_usage_hourly",
        "CREATE INDEX gw_ledger_key_ts ON gw_ledger (key_id, ts)",
        "CREATE INDEX gw_ledger_team_ts ON gw_ledger (team_id, ts)",
        "CREATE INDEX gw_ledger_model_ts ON gw_ledger (model, ts)",
        "DELETE FROM gw_schema_migrations WHERE version = 5",
    ];

    public static readonly LedgerEntry[] Ledger = Enumerable.Range(0, 240).Select(i => new LedgerEntry
    {
        RequestId = $"r{i}",
        Timestamp = T0.AddMinutes(i * 7).AddTicks(i * 130),
        KeyId = i % 4 == 0 ? null : $"k{i % 3}",
        TeamId = i % 5 == 0 ? null : $"t{i % 2}",
        Model = i % 2 == 0 ? "gpt-4o" : "sim-small",
        Deployment = i % 3 == 0 ? "" : "dep-a",
        Status = i % 6 == 0 ? "UNAVAILABLE" : "OK",
        InputTokens = i * 11,
        OutputTokens = i * 3,
        CostUsd = i % 4 == 0 ? 0m : i / 1_000_000_007m,
        Cache = i % 4 == 0 ? "hit_exact" : "",
        SavedCostUsd = i % 4 == 0 ? 0.000123m * i : 0m,
    }).ToArray();

    public static async Task AssertMatchesReferenceAsync(IGovernanceStore store)
    {
        var reference = new InMemoryGovernanceStore();
        await reference.AppendLedgerAsync(Ledger, CancellationToken.None);
        foreach (var (from, to) in new[] { (T0.AddHours(-1), T0.AddDays(2)), (T0.AddMinutes(13), T0.AddHours(20).AddMinutes(41)) })
        {
            foreach (var groupBy in new UsageGrouping[][] { [], [UsageGrouping.Key, UsageGrouping.Team], [UsageGrouping.Model, UsageGrouping.Deployment, UsageGrouping.Day] })
            {
                var query = new UsageQuery { From = from, To = to, GroupBy = groupBy };
                var expected = await reference.QueryUsageAsync(query, CancellationToken.None);
                Assert.NotEmpty(expected);
                Assert.Equal(expected, await store.QueryUsageAsync(query, CancellationToken.None));
            }
        }

        Assert.Equal(await reference.GetSpendAsync("k1", null, T0.AddMinutes(1), CancellationToken.None), await store.GetSpendAsync("k1", null, T0.AddMinutes(1), CancellationToken.None));
    }
}
