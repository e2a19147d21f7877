using System.Data.Common;
using Gateway.Grpc.Governance.Storage.Sql;
using Npgsql;
using NpgsqlTypes;

namespace Gateway.Grpc.Governance.Storage;

/// <summary>
/// The production store (<c>store: { kind: postgres, connectionString: env:GATEWAY_PG }</c>),
/// shared by every gateway replica. Migrations take a transaction-level advisory lock, so
/// replicas starting together apply each schema step once. Timestamps are kept to the microsecond.
/// </summary>
public sealed class PostgresGovernanceStore : IGovernanceStore, IAsyncDisposable, IDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly SqlStoreCore _core;

    /// <param name="connectionString">An Npgsql connection string (resolved from its secret reference by the caller).</param>
    public PostgresGovernanceStore(string connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new ArgumentException("The PostgreSQL connection string is empty (store:connectionString must reference one, e.g. env:GATEWAY_PG).", nameof(connectionString));
        }

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException ex)
        {
            // The message of a parse error may quote the string; it can hold a password, so it is not repeated.
            throw new ArgumentException("The PostgreSQL connection string is not valid (store:connectionString); expected e.g. 'Host=db;Database=gateway;Username=gateway;Password=...'.", nameof(connectionString), ex.InnerException);
        }

        Description = $"host={builder.Host ?? "localhost"} port={builder.Port} database={builder.Database ?? builder.Username ?? "(default)"}";
        _dataSource = NpgsqlDataSource.Create(builder);
        _core = new SqlStoreCore(PostgresDialect.Instance, OpenAsync);
    }

    /// <summary>Where the store points (host, port, database), without credentials: safe to log.</summary>
    public string Description { get; }

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var step = "connecting";
        try
        {
            var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var latest = PostgresSchema.Migrations[^1].Version;
                foreach (var migration in PostgresSchema.Migrations)
                {
                    step = $"applying schema version {migration.Version} ({migration.Name})";
                    var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                    await using (transaction.ConfigureAwait(false))
                    {
                        // Held to the end of the transaction: concurrent migrators queue here, and
                        // each then sees whether the step is already recorded. The table is created
                        // under the lock too, since CREATE TABLE IF NOT EXISTS races with itself.
                        await ExecuteAsync(connection, $"SELECT pg_advisory_xact_lock({PostgresSchema.AdvisoryLockKey})", cancellationToken).ConfigureAwait(false);
                        await ExecuteAsync(connection, $"CREATE TABLE IF NOT EXISTS {PostgresSchema.MigrationsTable} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())", cancellationToken).ConfigureAwait(false);
                        var current = await ScalarAsync(connection, $"SELECT COALESCE(MAX(version), 0) FROM {PostgresSchema.MigrationsTable}", cancellationToken).ConfigureAwait(false);
                        if (current > latest)
                        {
                            throw new InvalidOperationException($"the database is at schema version {current}, newer than this gateway knows ({latest}); run a newer gateway or use another database");
                        }

                        var applied = await ScalarAsync(connection, $"SELECT COUNT(*) FROM {PostgresSchema.MigrationsTable} WHERE version = {migration.Version}", cancellationToken).ConfigureAwait(false);
                        if (applied == 0)
                        {
                            await ExecuteAsync(connection, migration.Sql, cancellationToken).ConfigureAwait(false);
                            await using var record = new NpgsqlCommand($"INSERT INTO {PostgresSchema.MigrationsTable} (version, name) VALUES (@version, @name)", connection);
                            record.Parameters.AddWithValue("version", migration.Version);
                            record.Parameters.AddWithValue("name", migration.Name);
                            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                        }

                        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            throw new InvalidOperationException($"The PostgreSQL governance store ({Description}) could not be migrated ({step}): {ex.Message}", ex);
        }
    }

    public Task CreateTeamAsync(TeamRecord team, CancellationToken cancellationToken) => _core.CreateTeamAsync(team, cancellationToken);

    public Task<TeamRecord?> GetTeamAsync(string id, CancellationToken cancellationToken) => _core.GetTeamAsync(id, cancellationToken);

    public Task<IReadOnlyList<TeamRecord>> ListTeamsAsync(CancellationToken cancellationToken) => _core.ListTeamsAsync(cancellationToken);

    public Task<bool> UpdateTeamAsync(TeamRecord team, CancellationToken cancellationToken) => _core.UpdateTeamAsync(team, cancellationToken);

    public Task<bool> DeleteTeamAsync(string id, CancellationToken cancellationToken) => _core.DeleteTeamAsync(id, cancellationToken);

    public Task CreateKeyAsync(KeyRecord key, CancellationToken cancellationToken) => _core.CreateKeyAsync(key, cancellationToken);

    public Task<KeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken) => _core.GetKeyAsync(id, cancellationToken);

    public Task<IReadOnlyList<KeyRecord>> FindKeysByPrefixAsync(string prefix, CancellationToken cancellationToken) => _core.FindKeysByPrefixAsync(prefix, cancellationToken);

    public Task<IReadOnlyList<KeyRecord>> ListKeysAsync(string? teamId, CancellationToken cancellationToken) => _core.ListKeysAsync(teamId, cancellationToken);

    public Task<bool> UpdateKeyAsync(KeyRecord key, CancellationToken cancellationToken) => _core.UpdateKeyAsync(key, cancellationToken);

    public async Task AppendLedgerAsync(IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return;
        }

        var n = entries.Count;
        var requestIds = new string[n];
        var timestamps = new DateTime[n];
        var keyIds = new string?[n];
        var teamIds = new string?[n];
        var models = new string[n];
        var deployments = new string[n];
        var providers = new string[n];
        var routes = new string[n];
        var streams = new bool[n];
        var inputTokens = new long[n];
        var outputTokens = new long[n];
        var cachedInputTokens = new long[n];
        var costs = new decimal[n];
        var abandonedCosts = new decimal[n];
        var latencies = new long[n];
        var ttfts = new long?[n];
        var statuses = new string[n];
        var estimated = new bool[n];
        var attempts = new int[n];
        var caches = new string[n];
        var savedCosts = new decimal[n];
        for (var i = 0; i < n; i++)
        {
            var e = entries[i];
            requestIds[i] = e.RequestId;
            timestamps[i] = e.Timestamp.UtcDateTime;
            keyIds[i] = e.KeyId;
            teamIds[i] = e.TeamId;
            models[i] = e.Model;
            deployments[i] = e.Deployment;
            providers[i] = e.Provider;
            routes[i] = e.Route;
            streams[i] = e.Stream;
            inputTokens[i] = e.InputTokens;
            outputTokens[i] = e.OutputTokens;
            cachedInputTokens[i] = e.CachedInputTokens;
            costs[i] = e.CostUsd;
            abandonedCosts[i] = e.AbandonedCostUsd;
            latencies[i] = e.LatencyMs;
            ttfts[i] = e.TimeToFirstTokenMs;
            statuses[i] = e.Status;
            estimated[i] = e.Estimated;
            attempts[i] = e.Attempts;
            caches[i] = e.Cache;
            savedCosts[i] = e.SavedCostUsd;
        }

        // One statement for the whole batch (unnest zips the arrays into rows, in order), so the
        // batch is one round trip and atomic; a request id already present, or repeated within
        // the batch, keeps its first row. The rows it did insert (RETURNING) are summed into their
        // hours of the rollup in the same statement; replicas adding to one hour at once
        // serialise on the row's lock, and the groups go in key order so two batches lock alike.
        await using var command = _dataSource.CreateCommand("""
            WITH inserted AS (
                INSERT INTO gw_ledger (request_id, ts, key_id, team_id, model, deployment, provider, route, stream,
                    input_tokens, output_tokens, cached_input_tokens, cost_usd, abandoned_cost_usd, latency_ms, ttft_ms, status, estimated, attempts, cache, saved_cost_usd)
                SELECT * FROM unnest(@request_id, @ts, @key_id, @team_id, @model, @deployment, @provider, @route, @stream,
                    @input_tokens, @output_tokens, @cached_input_tokens, @cost_usd, @abandoned_cost_usd, @latency_ms, @ttft_ms, @status, @estimated, @attempts, @cache, @saved_cost_usd)
                ON CONFLICT (request_id) DO NOTHING
                RETURNING ts, key_id, team_id, model, deployment, status, input_tokens, output_tokens, cost_usd, cache, saved_cost_usd
            )
            INSERT INTO gw_usage_hourly (hour, key_id, team_id, model, deployment, requests, ok_requests, input_tokens, output_tokens, cost_usd, cache_hits, saved_cost_usd)
            SELECT date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', COALESCE(key_id, ''), COALESCE(team_id, ''), model, deployment,
                COUNT(*), COUNT(*) FILTER (WHERE status = 'OK'), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd),
                COUNT(*) FILTER (WHERE cache <> ''), SUM(saved_cost_usd)
            FROM inserted GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (hour, key_id, team_id, model, deployment) DO UPDATE SET
                requests = gw_usage_hourly.requests + excluded.requests,
                ok_requests = gw_usage_hourly.ok_requests + excluded.ok_requests,
                input_tokens = gw_usage_hourly.input_tokens + excluded.input_tokens,
                output_tokens = gw_usage_hourly.output_tokens + excluded.output_tokens,
                cost_usd = gw_usage_hourly.cost_usd + excluded.cost_usd,
                cache_hits = gw_usage_hourly.cache_hits + excluded.cache_hits,
                saved_cost_usd = gw_usage_hourly.saved_cost_usd + excluded.saved_cost_usd
            """);
        var p = command.Parameters;
        p.Add(Array("request_id", NpgsqlDbType.Text, requestIds));
        p.Add(Array("ts", NpgsqlDbType.TimestampTz, timestamps));
        p.Add(Array("key_id", NpgsqlDbType.Text, keyIds));
        p.Add(Array("team_id", NpgsqlDbType.Text, teamIds));
        p.Add(Array("model", NpgsqlDbType.Text, models));
        p.Add(Array("deployment", NpgsqlDbType.Text, deployments));
        p.Add(Array("provider", NpgsqlDbType.Text, providers));
        p.Add(Array("route", NpgsqlDbType.Text, routes));
        p.Add(Array("stream", NpgsqlDbType.Boolean, streams));
        p.Add(Array("input_tokens", NpgsqlDbType.Bigint, inputTokens));
        p.Add(Array("output_tokens", NpgsqlDbType.Bigint, outputTokens));
        p.Add(Array("cached_input_tokens", NpgsqlDbType.Bigint, cachedInputTokens));
        p.Add(Array("cost_usd", NpgsqlDbType.Numeric, costs));
        p.Add(Array("abandoned_cost_usd", NpgsqlDbType.Numeric, abandonedCosts));
        p.Add(Array("latency_ms", NpgsqlDbType.Bigint, latencies));
        p.Add(Array("ttft_ms", NpgsqlDbType.Bigint, ttfts));
        p.Add(Array("status", NpgsqlDbType.Text, statuses));
        p.Add(Array("estimated", NpgsqlDbType.Boolean, estimated));
        p.Add(Array("attempts", NpgsqlDbType.Integer, attempts));
        p.Add(Array("cache", NpgsqlDbType.Text, caches));
        p.Add(Array("saved_cost_usd", NpgsqlDbType.Numeric, savedCosts));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task<IReadOnlyList<UsageRow>> QueryUsageAsync(UsageQuery query, CancellationToken cancellationToken) => _core.QueryUsageAsync(query, cancellationToken);

    public Task<bool> TryRecordBudgetAlertAsync(string scope, string period, int thresholdPercent, CancellationToken cancellationToken)
        => _core.TryRecordBudgetAlertAsync(scope, period, thresholdPercent, cancellationToken);

    public Task<decimal> GetSpendAsync(string? keyId, string? teamId, DateTimeOffset from, CancellationToken cancellationToken)
        => _core.GetSpendAsync(keyId, teamId, from, cancellationToken);

    public void Dispose() => _dataSource.Dispose();

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private static NpgsqlParameter Array<T>(string name, NpgsqlDbType elementType, T[] values)
        => new(name, NpgsqlDbType.Array | elementType) { Value = values };

    public async Task PingAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var command = connection.CreateCommand();
            await using (command.ConfigureAwait(false))
            {
                command.CommandText = "SELECT 1";
                await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken) => await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }
}
