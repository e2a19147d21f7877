using Gateway.Grpc.Governance.Storage;

namespace Gateway.Grpc.Governance.Tests.Storage;

/// <summary>
/// The behaviour every <see cref="IGovernanceStore"/> must have, run against each store.
/// <see cref="InMemoryGovernanceStore"/> is the reference: SQL stores are also compared with it
/// on a generated ledger for every grouping combination.
/// </summary>
public abstract class GovernanceStoreConformanceTests : IAsyncLifetime
{
    // Whole microseconds: PostgreSQL keeps timestamps to the microsecond.
    protected static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    private readonly List<IGovernanceStore> _stores = [];

    protected static CancellationToken Ct => CancellationToken.None;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            if (store is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }
        }
    }

    /// <summary>A fresh, empty store (not yet migrated).</summary>
    protected abstract Task<IGovernanceStore> CreateUnmigratedStoreAsync();

    protected async Task<IGovernanceStore> CreateStoreAsync()
    {
        var store = await CreateUnmigratedStoreAsync();
        _stores.Add(store);
        await store.MigrateAsync(Ct);
        return store;
    }

    protected void Track(IGovernanceStore store) => _stores.Add(store);

    [Fact]
    public async Task Team_CreateThenGet_RoundTripsEveryField()
    {
        var store = await CreateStoreAsync();
        var team = Team("team-a") with
        {
            Name = "Team A — ünïcode",
            AllowedModels = ["gpt-4o", "sim-small"],
            Limits = new LimitSettings { RequestsPerMinute = 60, TokensPerMinute = 100_000, MaxConcurrentRequests = 4, MaxTokensPerRequest = 8192, Algorithm = "gcra", MonthlyBudgetUsd = 1234.567890123456789m },
            Metadata = new Dictionary<string, string> { ["owner"] = "ml-platform", ["cost-center"] = "42" },
            LogBodies = true,
            CreatedAt = T0.AddTicks(1230),
            UpdatedAt = T0.AddHours(1),
        };

        await store.CreateTeamAsync(team, Ct);
        var read = await store.GetTeamAsync("team-a", Ct);

        Assert.NotNull(read);
        AssertTeam(team, read);
        Assert.Null(await store.GetTeamAsync("team-missing", Ct));
    }

    [Fact]
    public async Task Team_CreatedTwice_Throws()
    {
        var store = await CreateStoreAsync();
        await store.CreateTeamAsync(Team("team-a"), Ct);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => store.CreateTeamAsync(Team("team-a") with { Name = "other" }, Ct));

        Assert.Contains("team-a", ex.Message, StringComparison.Ordinal);
        Assert.Equal("team-a", (await store.GetTeamAsync("team-a", Ct))!.Name);
    }

    [Fact]
    public async Task Team_Update_ReplacesRowAndMissingTeamIsFalse()
    {
        var store = await CreateStoreAsync();
        await store.CreateTeamAsync(Team("team-a"), Ct);
        var updated = Team("team-a") with { Name = "renamed", AllowedModels = ["x"], Limits = new LimitSettings { MonthlyBudgetUsd = 10m }, Metadata = new Dictionary<string, string> { ["k"] = "v" }, LogBodies = true, UpdatedAt = T0.AddDays(1) };

        Assert.True(await store.UpdateTeamAsync(updated, Ct));
        Assert.False(await store.UpdateTeamAsync(Team("team-missing"), Ct));
        AssertTeam(updated, (await store.GetTeamAsync("team-a", Ct))!);
        Assert.Null(await store.GetTeamAsync("team-missing", Ct));
    }

    [Fact]
    public async Task Teams_Listed_ByCreationTimeThenOrdinalId()
    {
        var store = await CreateStoreAsync();
        await store.CreateTeamAsync(Team("c") with { CreatedAt = T0.AddMinutes(2) }, Ct);
        await store.CreateTeamAsync(Team("b") with { CreatedAt = T0 }, Ct);
        await store.CreateTeamAsync(Team("B") with { CreatedAt = T0 }, Ct);
        await store.CreateTeamAsync(Team("a") with { CreatedAt = T0.AddMinutes(1) }, Ct);

        var teams = await store.ListTeamsAsync(Ct);

        Assert.Equal(["B", "b", "a", "c"], teams.Select(t => t.Id));
    }

    [Fact]
    public async Task Team_Delete_RemovesOnlyATeamWithoutKeys()
    {
        var store = await CreateStoreAsync();
        await store.CreateTeamAsync(Team("empty"), Ct);
        await store.CreateTeamAsync(Team("busy"), Ct);
        await store.CreateKeyAsync(Key("k1", "gw-aaaa1111", "busy"), Ct);

        Assert.True(await store.DeleteTeamAsync("empty", Ct));
        Assert.False(await store.DeleteTeamAsync("empty", Ct));
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => store.DeleteTeamAsync("busy", Ct));

        Assert.Contains("busy", ex.Message, StringComparison.Ordinal);
        Assert.NotNull(await store.GetTeamAsync("busy", Ct));
        Assert.Null(await store.GetTeamAsync("empty", Ct));
    }

    [Fact]
    public async Task Key_CreateThenGet_RoundTripsEveryField()
    {
        var store = await CreateStoreAsync();
        var key = Key("key-1", "gw-AbCd1234", "team-a") with
        {
            Name = "ci pipeline",
            AllowedModels = ["gpt-4o-mini"],
            Limits = new LimitSettings { RequestsPerMinute = 5, Algorithm = "sliding-window", MonthlyBudgetUsd = 0.000001m },
            ExpiresAt = T0.AddDays(30),
            RevokedAt = null,
            Metadata = new Dictionary<string, string> { ["env"] = "ci" },
            CreatedAt = T0.AddTicks(10),
            UpdatedAt = T0.AddTicks(20),
        };

        await store.CreateKeyAsync(key, Ct);
        var read = await store.GetKeyAsync("key-1", Ct);

        Assert.NotNull(read);
        AssertKey(key, read);
        Assert.Null(await store.GetKeyAsync("key-missing", Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.CreateKeyAsync(key with { Prefix = "gw-other" }, Ct));
    }

    [Fact]
    public async Task Key_FindByPrefix_ReturnsOnlyExactPrefixMatches()
    {
        var store = await CreateStoreAsync();
        await store.CreateKeyAsync(Key("k1", "gw-AbCd1234", null), Ct);
        await store.CreateKeyAsync(Key("k2", "gw-AbCd1235", null), Ct);
        await store.CreateKeyAsync(Key("k3", "gw-abcd1234", null), Ct);

        var found = await store.FindKeysByPrefixAsync("gw-AbCd1234", Ct);

        Assert.Equal("k1", Assert.Single(found).Id);
        Assert.Empty(await store.FindKeysByPrefixAsync("gw-AbCd123", Ct));
    }

    [Fact]
    public async Task Key_Rotated_IsFoundByNewPrefixOnlyWithNewHash()
    {
        var store = await CreateStoreAsync();
        var key = Key("k1", "gw-old00000", "team-a");
        await store.CreateKeyAsync(key, Ct);
        var rotated = key with { Prefix = "gw-new11111", Hash = new string('b', 64), UpdatedAt = T0.AddHours(2) };

        Assert.True(await store.UpdateKeyAsync(rotated, Ct));

        Assert.Empty(await store.FindKeysByPrefixAsync("gw-old00000", Ct));
        var found = Assert.Single(await store.FindKeysByPrefixAsync("gw-new11111", Ct));
        AssertKey(rotated, found);
        Assert.False(await store.UpdateKeyAsync(Key("k-missing", "gw-x", null), Ct));
    }

    [Fact]
    public async Task Key_Revoked_KeepsRevocationTime()
    {
        var store = await CreateStoreAsync();
        var key = Key("k1", "gw-rev00000", null);
        await store.CreateKeyAsync(key, Ct);

        await store.UpdateKeyAsync(key with { RevokedAt = T0.AddMinutes(5) }, Ct);

        Assert.Equal(T0.AddMinutes(5), (await store.GetKeyAsync("k1", Ct))!.RevokedAt);
    }

    [Fact]
    public async Task Keys_ListedForTeamOrAll_ByCreationTimeThenId()
    {
        var store = await CreateStoreAsync();
        await store.CreateKeyAsync(Key("k3", "p3", "team-a") with { CreatedAt = T0.AddSeconds(1) }, Ct);
        await store.CreateKeyAsync(Key("k2", "p2", "team-b") with { CreatedAt = T0 }, Ct);
        await store.CreateKeyAsync(Key("k1", "p1", "team-a") with { CreatedAt = T0.AddSeconds(1) }, Ct);
        await store.CreateKeyAsync(Key("k0", "p0", null) with { CreatedAt = T0.AddSeconds(5) }, Ct);

        Assert.Equal(["k1", "k3"], (await store.ListKeysAsync("team-a", Ct)).Select(k => k.Id));
        Assert.Equal(["k2", "k1", "k3", "k0"], (await store.ListKeysAsync(null, Ct)).Select(k => k.Id));
        Assert.Empty(await store.ListKeysAsync("team-none", Ct));
    }

    [Fact]
    public async Task Ledger_DuplicateRequestIds_AreSkippedAndFirstRowKept()
    {
        var store = await CreateStoreAsync();
        await store.AppendLedgerAsync([Entry("r1", T0, cost: 1.5m), Entry("r2", T0, cost: 2m), Entry("r1", T0, cost: 100m)], Ct);
        await store.AppendLedgerAsync([Entry("r2", T0, cost: 50m), Entry("r3", T0, cost: 0.25m)], Ct);
        await store.AppendLedgerAsync([], Ct);

        var total = Assert.Single(await store.QueryUsageAsync(new UsageQuery { From = T0.AddDays(-1), To = T0.AddDays(1) }, Ct));

        Assert.Equal(3, total.Requests);
        Assert.Equal(3.75m, total.CostUsd);
        Assert.Equal(30, total.InputTokens);
        Assert.Equal(60, total.OutputTokens);
    }

    [Fact]
    public async Task Ledger_NonAsciiAndLongText_ComesBackExactly()
    {
        // Short text is written as UTF-8 from a stack buffer, text too long for it another way: both must read back as given.
        var store = await CreateStoreAsync();
        var longModel = "modèle-" + new string('ü', 700);
        await store.AppendLedgerAsync(
        [
            Entry("u1", T0, key: "clé-1", team: "équipe-日本", model: "modèle-ß", cost: 0.5m),
            Entry("u2", T0.AddMinutes(1), key: "clé-1", team: "équipe-日本", model: longModel, cost: 0.25m),
        ], Ct);

        var rows = await store.QueryUsageAsync(new UsageQuery { From = T0, To = T0.AddDays(1), GroupBy = [UsageGrouping.Model, UsageGrouping.Team, UsageGrouping.Key] }, Ct);

        Assert.Equal(2, rows.Count);
        var shortRow = Assert.Single(rows, static r => r.Model == "modèle-ß");
        var longRow = Assert.Single(rows, r => r.Model == longModel);
        Assert.Equal(("équipe-日本", "clé-1", 1L, 0.5m), (shortRow.TeamId, shortRow.KeyId, shortRow.Requests, shortRow.CostUsd));
        Assert.Equal(("équipe-日本", "clé-1", 1L, 0.25m), (longRow.TeamId, longRow.KeyId, longRow.Requests, longRow.CostUsd));
    }

    [Fact]
    public async Task Usage_GroupedByTeamAndModel_SumsExactly()
    {
        var store = await CreateStoreAsync();
        await store.AppendLedgerAsync(
        [
            Entry("r1", T0, key: "k1", team: "t1", model: "gpt-4o", input: 100, output: 10, cost: 0.1m),
            Entry("r2", T0.AddMinutes(1), key: "k2", team: "t1", model: "gpt-4o", input: 200, output: 20, cost: 0.2m),
            Entry("r3", T0.AddMinutes(2), key: "k1", team: "t1", model: "sim-small", input: 1, output: 2, cost: 0.000000123456789m),
            Entry("r4", T0.AddMinutes(3), key: "k3", team: "t2", model: "gpt-4o", input: 5, output: 5, cost: 9007199254740993.01m),
            Entry("r5", T0.AddMinutes(4), key: "k3", team: "t2", model: "gpt-4o", input: 5, output: 5, cost: 0.01m),
        ], Ct);

        var rows = await store.QueryUsageAsync(new UsageQuery { From = T0, To = T0.AddDays(1), GroupBy = [UsageGrouping.Model, UsageGrouping.Team] }, Ct);

        Assert.Collection(
            rows,
            r => AssertRow(r, key: null, team: "t1", model: "gpt-4o", day: null, requests: 2, input: 300, output: 30, cost: 0.3m),
            r => AssertRow(r, key: null, team: "t1", model: "sim-small", day: null, requests: 1, input: 1, output: 2, cost: 0.000000123456789m),
            r => AssertRow(r, key: null, team: "t2", model: "gpt-4o", day: null, requests: 2, input: 10, output: 10, cost: 9007199254740993.02m));
    }

    [Fact]
    public async Task Usage_CacheHitsAndSavedCost_SummedPerGroup()
    {
        var store = await CreateStoreAsync();
        await store.AppendLedgerAsync(
        [
            Entry("c1", T0, key: "k1", team: "t1", model: "gpt-4o", input: 100, output: 10, cost: 0.1m),
            Entry("c2", T0.AddMinutes(1), key: "k1", team: "t1", model: "gpt-4o", input: 0, output: 0, cost: 0m) with { Cache = "hit_exact", SavedCostUsd = 0.1m },
            Entry("c3", T0.AddMinutes(2), key: "k2", team: "t1", model: "gpt-4o", input: 0, output: 0, cost: 0m) with { Cache = "hit_semantic", SavedCostUsd = 0.000000000123m },
            Entry("c4", T0.AddMinutes(3), key: "k2", team: "t1", model: "sim-small", input: 5, output: 5, cost: 0.01m),
        ], Ct);

        var rows = await store.QueryUsageAsync(new UsageQuery { From = T0, To = T0.AddDays(1), GroupBy = [UsageGrouping.Model] }, Ct);

        Assert.Equal(2, rows.Count);
        Assert.Equal(("gpt-4o", 3L, 2L, 0.100000000123m, 0.1m), (rows[0].Model, rows[0].Requests, rows[0].CacheHits, rows[0].SavedCostUsd, rows[0].CostUsd));
        Assert.Equal(("sim-small", 1L, 0L, 0m), (rows[1].Model, rows[1].Requests, rows[1].CacheHits, rows[1].SavedCostUsd));
    }

    [Fact]
    public async Task Usage_GroupedByKeyAndUtcDay_UsesUtcDatesAndNullGroups()
    {
        var store = await CreateStoreAsync();
        var eveningInNewYork = new DateTimeOffset(2026, 11, 20, 23, 30, 0, TimeSpan.FromHours(-5)); // 2026-11-21 04:30 UTC
        await store.AppendLedgerAsync(
        [
            Entry("r1", new DateTimeOffset(2026, 11, 20, 0, 0, 0, TimeSpan.Zero), key: "k1", cost: 1m),
            Entry("r2", new DateTimeOffset(2026, 11, 20, 23, 59, 59, 999, TimeSpan.Zero), key: "k1", cost: 2m),
            Entry("r3", eveningInNewYork, key: "k1", cost: 4m),
            Entry("r4", new DateTimeOffset(2026, 11, 21, 1, 0, 0, TimeSpan.Zero), key: null, cost: 8m),
        ], Ct);

        var rows = await store.QueryUsageAsync(new UsageQuery { From = T0.AddDays(-1), To = T0.AddDays(2), GroupBy = [UsageGrouping.Day, UsageGrouping.Key] }, Ct);

        Assert.Collection(
            rows,
            r => AssertRow(r, key: "k1", team: null, model: null, day: "2026-11-20", requests: 2, input: 20, output: 40, cost: 3m),
            r => AssertRow(r, key: null, team: null, model: null, day: "2026-11-21", requests: 1, input: 10, output: 20, cost: 8m),
            r => AssertRow(r, key: "k1", team: null, model: null, day: "2026-11-21", requests: 1, input: 10, output: 20, cost: 4m));
    }

    [Fact]
    public async Task Usage_ByDeployment_CountsSuccessesAndSumsCacheSavings()
    {
        var store = await CreateStoreAsync();
        await store.AppendLedgerAsync(
        [
            Entry("r1", T0, cost: 1m) with { Deployment = "d1", Status = "OK" },
            Entry("r2", T0.AddMinutes(1), cost: 2m) with { Deployment = "d1", Status = "UNAVAILABLE" },
            Entry("r3", T0.AddMinutes(2), cost: 0m) with { Deployment = "d2", Status = "OK", Cache = "hit_exact", SavedCostUsd = 0.25m },
            Entry("r4", T0.AddMinutes(3), cost: 0m) with { Deployment = "", Status = "RESOURCE_EXHAUSTED" },
        ], Ct);

        var rows = await store.QueryUsageAsync(new UsageQuery { From = T0, To = T0.AddDays(1), GroupBy = [UsageGrouping.Deployment] }, Ct);

        Assert.Collection(
            rows,
            r => Assert.Equal(("", 1L, 0L, 0m), (r.Deployment, r.Requests, r.SuccessfulRequests, r.SavedCostUsd)),
            r => Assert.Equal(("d1", 2L, 1L, 0m, 3m), (r.Deployment, r.Requests, r.SuccessfulRequests, r.SavedCostUsd, r.CostUsd)),
            r => Assert.Equal(("d2", 1L, 1L, 0.25m), (r.Deployment, r.Requests, r.SuccessfulRequests, r.SavedCostUsd)));
        var total = Assert.Single(await store.QueryUsageAsync(new UsageQuery { From = T0, To = T0.AddDays(1) }, Ct));
        Assert.Equal((4L, 2L, 0.25m), (total.Requests, total.SuccessfulRequests, total.SavedCostUsd));
        Assert.Null(total.Deployment);
    }

    [Fact]
    public async Task Usage_TimeRangeIsHalfOpenAndFiltersApply()
    {
        var store = await CreateStoreAsync();
        await store.AppendLedgerAsync(
        [
            Entry("before", T0.AddTicks(-10), key: "k1", team: "t1", cost: 1m),
            Entry("at-from", T0, key: "k1", team: "t1", cost: 2m),
            Entry("inside", T0.AddHours(1), key: "k2", team: "t1", model: "other", cost: 4m),
            Entry("at-to", T0.AddHours(2), key: "k1", team: "t1", cost: 8m),
        ], Ct);
        var range = new UsageQuery { From = T0, To = T0.AddHours(2) };

        Assert.Equal(6m, Assert.Single(await store.QueryUsageAsync(range, Ct)).CostUsd);
        Assert.Equal(2m, Assert.Single(await store.QueryUsageAsync(range with { KeyId = "k1" }, Ct)).CostUsd);
        Assert.Equal(6m, Assert.Single(await store.QueryUsageAsync(range with { TeamId = "t1" }, Ct)).CostUsd);
        Assert.Equal(4m, Assert.Single(await store.QueryUsageAsync(range with { Model = "other" }, Ct)).CostUsd);
        Assert.Empty(await store.QueryUsageAsync(range with { TeamId = "t-none" }, Ct));
        Assert.Empty(await store.QueryUsageAsync(range with { TeamId = "t-none", GroupBy = [UsageGrouping.Model] }, Ct));
    }

    [Fact]
    public async Task Usage_EveryGrouping_MatchesTheInMemoryReference()
    {
        var store = await CreateStoreAsync();
        var reference = await AppendToBothAsync(store, GeneratedLedger(600), batchSize: 97);

        var groupings = new[] { UsageGrouping.Key, UsageGrouping.Team, UsageGrouping.Model, UsageGrouping.Day, UsageGrouping.Deployment };
        for (var mask = 0; mask < 32; mask++)
        {
            var query = new UsageQuery { From = T0.AddDays(-1), To = T0.AddDays(3), GroupBy = groupings.Where((_, bit) => (mask & (1 << bit)) != 0).ToArray() };

            var expected = await reference.QueryUsageAsync(query, Ct);
            var actual = await store.QueryUsageAsync(query, Ct);

            Assert.Equal(expected.Count, actual.Count);
            for (var r = 0; r < expected.Count; r++)
            {
                Assert.Equal(expected[r], actual[r]);
            }
        }

        var filtered = new UsageQuery { From = T0, To = T0.AddDays(1), TeamId = "team-1", GroupBy = [UsageGrouping.Model, UsageGrouping.Day] };
        Assert.Equal(await reference.QueryUsageAsync(filtered, Ct), await store.QueryUsageAsync(filtered, Ct));
    }

    /// <summary>
    /// The SQL stores read whole hours from their hourly rollup and the edge hours from the
    /// ledger: ranges starting and ending inside hours, inside one hour, on hour boundaries, open
    /// at both ends, empty and inverted must all sum exactly as the reference does.
    /// </summary>
    [Fact]
    public async Task Usage_RangesCuttingHours_MatchTheInMemoryReference()
    {
        var store = await CreateStoreAsync();
        var reference = await AppendToBothAsync(store, GeneratedLedger(400), batchSize: 53);

        var ranges = new (DateTimeOffset From, DateTimeOffset To)[]
        {
            (T0.AddMinutes(7).AddSeconds(13), T0.AddDays(1).AddHours(3).AddMilliseconds(500)),
            (T0.AddMinutes(5), T0.AddMinutes(40)),
            (T0.AddMinutes(50), T0.AddHours(1).AddMinutes(10)),
            (T0.AddMinutes(50), T0.AddHours(2).AddMinutes(10)),
            (T0, T0.AddHours(5)),
            (T0.AddTicks(10), T0.AddHours(5)),
            (T0.AddHours(-7), T0.AddHours(30).AddTicks(-10)),
            (T0.AddHours(-3).AddMinutes(1), T0.AddHours(-3).AddMinutes(1)),
            (T0.AddHours(2), T0.AddHours(1)),
            (DateTimeOffset.MinValue, DateTimeOffset.MaxValue),
            (T0.AddMinutes(30), DateTimeOffset.MaxValue),
        };
        var groupings = new UsageGrouping[][]
        {
            [],
            [UsageGrouping.Key],
            [UsageGrouping.Team, UsageGrouping.Model],
            [UsageGrouping.Day],
            [UsageGrouping.Deployment, UsageGrouping.Key, UsageGrouping.Day],
        };
        var checkedRows = 0;
        foreach (var (from, to) in ranges)
        {
            foreach (var groupBy in groupings)
            {
                var query = new UsageQuery { From = from, To = to, GroupBy = groupBy };
                var expected = await reference.QueryUsageAsync(query, Ct);
                Assert.Equal(expected, await store.QueryUsageAsync(query, Ct));
                Assert.Equal(await reference.QueryUsageAsync(query with { KeyId = "key-2" }, Ct), await store.QueryUsageAsync(query with { KeyId = "key-2" }, Ct));
                Assert.Equal(await reference.QueryUsageAsync(query with { TeamId = "team-1", Model = "gpt-4o" }, Ct), await store.QueryUsageAsync(query with { TeamId = "team-1", Model = "gpt-4o" }, Ct));
                checkedRows += expected.Count;
            }
        }

        // The ranges are not all empty: the comparison above compared rows.
        Assert.True(checkedRows > 100, $"only {checkedRows} rows compared");

        foreach (var from in new[] { DateTimeOffset.MinValue, T0.AddHours(-12), T0.AddMinutes(17).AddTicks(30), T0.AddDays(1).AddSeconds(1), T0.AddDays(5) })
        {
            foreach (var (key, team) in new[] { ((string?)null, (string?)null), ("key-1", null), (null, "team-2"), ("key-3", "team-1") })
            {
                Assert.Equal(await reference.GetSpendAsync(key, team, from, Ct), await store.GetSpendAsync(key, team, from, Ct));
            }
        }
    }

    [Fact]
    public async Task Spend_SinceTime_IsExactForKeyTeamAndAll()
    {
        var store = await CreateStoreAsync();
        await store.AppendLedgerAsync(
        [
            Entry("old", T0.AddDays(-40), key: "k1", team: "t1", cost: 1000m),
            Entry("r1", T0, key: "k1", team: "t1", cost: 0.1m),
            Entry("r2", T0.AddHours(1), key: "k1", team: "t1", cost: 0.2m),
            Entry("r3", T0.AddHours(2), key: "k2", team: "t1", cost: 0.000000000000000001m),
            Entry("r4", T0.AddHours(3), key: "k3", team: "t2", cost: 7m),
        ], Ct);

        Assert.Equal(0.3m, await store.GetSpendAsync("k1", null, T0, Ct));
        Assert.Equal(0.300000000000000001m, await store.GetSpendAsync(null, "t1", T0, Ct));
        Assert.Equal(7.300000000000000001m, await store.GetSpendAsync(null, null, T0, Ct));
        Assert.Equal(0.3m, await store.GetSpendAsync("k1", "t1", T0, Ct));
        Assert.Equal(0m, await store.GetSpendAsync("k-none", null, T0, Ct));
        Assert.Equal(1000.3m, await store.GetSpendAsync("k1", null, T0.AddDays(-41), Ct));
    }

    [Fact]
    public async Task BudgetAlert_RecordedOncePerScopePeriodAndThreshold()
    {
        var store = await CreateStoreAsync();

        Assert.True(await store.TryRecordBudgetAlertAsync("team:t1", "2026-11", 50, Ct));
        Assert.False(await store.TryRecordBudgetAlertAsync("team:t1", "2026-11", 50, Ct));
        Assert.True(await store.TryRecordBudgetAlertAsync("team:t1", "2026-11", 80, Ct));
        Assert.True(await store.TryRecordBudgetAlertAsync("team:t1", "2026-12", 50, Ct));
        Assert.True(await store.TryRecordBudgetAlertAsync("key:t1", "2026-11", 50, Ct));
        Assert.False(await store.TryRecordBudgetAlertAsync("team:t1", "2026-11", 80, Ct));
    }

    [Fact]
    public async Task BudgetAlert_ConcurrentRecorders_ExactlyOneWins()
    {
        var store = await CreateStoreAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => store.TryRecordBudgetAlertAsync("key:k1", "2026-11", 100, Ct))));

        Assert.Equal(1, results.Count(r => r));
    }

    [Fact]
    public async Task Migrate_RunTwice_KeepsData()
    {
        var store = await CreateStoreAsync();
        await store.CreateTeamAsync(Team("team-a"), Ct);
        await store.AppendLedgerAsync([Entry("r1", T0, cost: 1m)], Ct);

        await store.MigrateAsync(Ct);
        await store.MigrateAsync(Ct);

        Assert.NotNull(await store.GetTeamAsync("team-a", Ct));
        Assert.Equal(1m, await store.GetSpendAsync(null, null, T0, Ct));
    }

    protected static TeamRecord Team(string id) => new() { Id = id, Name = id, CreatedAt = T0, UpdatedAt = T0 };

    protected static KeyRecord Key(string id, string prefix, string? teamId) => new()
    {
        Id = id,
        Prefix = prefix,
        Hash = new string('a', 64),
        TeamId = teamId,
        Name = id,
        CreatedAt = T0,
        UpdatedAt = T0,
    };

    protected static LedgerEntry Entry(string requestId, DateTimeOffset at, string? key = "k1", string? team = "t1", string model = "sim-small", long input = 10, long output = 20, decimal cost = 0m) => new()
    {
        RequestId = requestId,
        Timestamp = at,
        KeyId = key,
        TeamId = team,
        Model = model,
        Deployment = model + "-dep",
        Provider = "simulated",
        Route = "grpc",
        Stream = requestId.Length % 2 == 0,
        InputTokens = input,
        OutputTokens = output,
        CachedInputTokens = input / 2,
        CostUsd = cost,
        AbandonedCostUsd = cost / 4,
        LatencyMs = 12,
        TimeToFirstTokenMs = requestId.Length % 2 == 0 ? 3 : null,
        Status = "OK",
        Estimated = false,
        Attempts = 1,
    };

    /// <summary>Appends the entries in batches to the store and to a fresh in-memory reference, which is returned.</summary>
    protected static async Task<InMemoryGovernanceStore> AppendToBothAsync(IGovernanceStore store, List<LedgerEntry> entries, int batchSize)
    {
        var reference = new InMemoryGovernanceStore();
        for (var i = 0; i < entries.Count; i += batchSize)
        {
            var batch = entries.Skip(i).Take(batchSize).ToArray();
            await store.AppendLedgerAsync(batch, Ct);
            await reference.AppendLedgerAsync(batch, Ct);
        }

        return reference;
    }

    /// <summary>A deterministic ledger over three days, several keys/teams/models, null key and team rows, and costs with many decimals.</summary>
    protected static List<LedgerEntry> GeneratedLedger(int count)
    {
        var random = new Random(1234);
        var keys = new[] { "key-1", "key-2", "key-3", null };
        var teams = new[] { "team-1", "team-2", null };
        var models = new[] { "gpt-4o", "gpt-4o-mini", "sim-small", "claude-3-5-haiku" };
        var deployments = new[] { "openai-1", "azure-1", "" };
        var statuses = new[] { "OK", "OK", "OK", "UNAVAILABLE", "RESOURCE_EXHAUSTED" };
        var entries = new List<LedgerEntry>(count);
        for (var i = 0; i < count; i++)
        {
            var at = T0.AddSeconds(random.Next(0, 3 * 24 * 3600) - 12 * 3600).AddTicks(random.Next(0, 10_000_000) / 10 * 10);
            entries.Add(Entry(
                $"req-{i:D5}",
                at,
                key: keys[random.Next(keys.Length)],
                team: teams[random.Next(teams.Length)],
                model: models[random.Next(models.Length)],
                input: random.Next(0, 100_000),
                output: random.Next(0, 10_000),
                cost: random.Next(0, 1_000_000_000) / 1_000_000_000_000m + (i % 7 == 0 ? 12345.6789m : 0m)) with
            {
                Deployment = deployments[random.Next(deployments.Length)],
                Status = statuses[random.Next(statuses.Length)],
            });
            if (i % 5 == 0)
            {
                // Every fifth call a response-cache hit: cost 0 and what it saved.
                entries[^1] = entries[^1] with { CostUsd = 0m, Cache = i % 10 == 0 ? "hit_exact" : "hit_semantic", SavedCostUsd = random.Next(1, 1_000_000) / 1_000_000_000m };
            }
        }

        // Repeats of earlier request ids, which every store must skip.
        entries.Add(entries[3] with { CostUsd = 999m });
        entries.Add(entries[10] with { CostUsd = 999m });
        return entries;
    }

    private static void AssertTeam(TeamRecord expected, TeamRecord actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.AllowedModels, actual.AllowedModels);
        Assert.Equal(expected.Limits, actual.Limits);
        Assert.Equal(expected.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal), actual.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(expected.LogBodies, actual.LogBodies);
        Assert.Equal(expected.CreatedAt, actual.CreatedAt);
        Assert.Equal(expected.UpdatedAt, actual.UpdatedAt);
    }

    private static void AssertKey(KeyRecord expected, KeyRecord actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Prefix, actual.Prefix);
        Assert.Equal(expected.Hash, actual.Hash);
        Assert.Equal(expected.TeamId, actual.TeamId);
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.AllowedModels, actual.AllowedModels);
        Assert.Equal(expected.Limits, actual.Limits);
        Assert.Equal(expected.ExpiresAt, actual.ExpiresAt);
        Assert.Equal(expected.RevokedAt, actual.RevokedAt);
        Assert.Equal(expected.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal), actual.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(expected.CreatedAt, actual.CreatedAt);
        Assert.Equal(expected.UpdatedAt, actual.UpdatedAt);
    }

    private static void AssertRow(UsageRow row, string? key, string? team, string? model, string? day, long requests, long input, long output, decimal cost)
        // Entry() rows are all status OK, so every request is a successful one.
        => Assert.Equal(new UsageRow { KeyId = key, TeamId = team, Model = model, Day = day, Requests = requests, SuccessfulRequests = requests, InputTokens = input, OutputTokens = output, CostUsd = cost }, row);
}
