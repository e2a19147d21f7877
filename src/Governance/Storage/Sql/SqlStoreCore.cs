using System.Data.Common;
using System.Text;

namespace Gateway.Grpc.Governance.Storage.Sql;

/// <summary>
/// The statements the SQLite and PostgreSQL stores share (teams, keys, usage, spend, alerts),
/// written once against ADO.NET with the type differences in a <see cref="SqlDialect"/>.
/// Semantics follow <see cref="InMemoryGovernanceStore"/>, the reference.
/// </summary>
internal sealed class SqlStoreCore(SqlDialect dialect, Func<CancellationToken, ValueTask<DbConnection>> open)
{
    private const string TeamColumns = "id, name, allowed_models, limits, metadata, log_bodies, created_at, updated_at";
    private const string KeyColumns = "id, prefix, hash, team_id, name, allowed_models, limits, metadata, expires_at, revoked_at, created_at, updated_at";

    public SqlDialect Dialect => dialect;

    public ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken) => open(cancellationToken);

    public async Task CreateTeamAsync(TeamRecord team, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(team);
        var inserted = await ExecuteAsync(
            $"INSERT INTO gw_teams ({TeamColumns}) VALUES (@id, @name, @allowed_models, @limits, @metadata, @log_bodies, @created_at, @updated_at) ON CONFLICT (id) DO NOTHING",
            command => BindTeam(command, team),
            cancellationToken).ConfigureAwait(false);
        if (inserted == 0)
        {
            throw new InvalidOperationException($"Team '{team.Id}' already exists.");
        }
    }

    public async Task<TeamRecord?> GetTeamAsync(string id, CancellationToken cancellationToken)
    {
        var teams = await QueryAsync($"SELECT {TeamColumns} FROM gw_teams WHERE id = @id", command => SqlDialect.Add(command, "id", id), ReadTeam, cancellationToken).ConfigureAwait(false);
        return teams.Count == 0 ? null : teams[0];
    }

    public async Task<IReadOnlyList<TeamRecord>> ListTeamsAsync(CancellationToken cancellationToken)
    {
        var teams = await QueryAsync($"SELECT {TeamColumns} FROM gw_teams", static _ => { }, ReadTeam, cancellationToken).ConfigureAwait(false);

        // Sorted here rather than by ORDER BY so the order is .NET's ordinal one on every database collation.
        teams.Sort(static (a, b) => a.CreatedAt.CompareTo(b.CreatedAt) is var c and not 0 ? c : string.CompareOrdinal(a.Id, b.Id));
        return teams;
    }

    public async Task<bool> UpdateTeamAsync(TeamRecord team, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(team);
        return await ExecuteAsync(
            "UPDATE gw_teams SET name = @name, allowed_models = @allowed_models, limits = @limits, metadata = @metadata, log_bodies = @log_bodies, created_at = @created_at, updated_at = @updated_at WHERE id = @id",
            command => BindTeam(command, team),
            cancellationToken).ConfigureAwait(false) > 0;
    }

    public async Task<bool> DeleteTeamAsync(string id, CancellationToken cancellationToken)
    {
        // One statement, so a key created for the team at the same moment cannot be orphaned.
        var deleted = await ExecuteAsync(
            "DELETE FROM gw_teams WHERE id = @id AND NOT EXISTS (SELECT 1 FROM gw_keys WHERE team_id = @id)",
            command => SqlDialect.Add(command, "id", id),
            cancellationToken).ConfigureAwait(false);
        if (deleted > 0)
        {
            return true;
        }

        var keys = await QueryAsync("SELECT id FROM gw_keys WHERE team_id = @id LIMIT 1", command => SqlDialect.Add(command, "id", id), static r => r.GetString(0), cancellationToken).ConfigureAwait(false);
        return keys.Count > 0 ? throw new InvalidOperationException($"Team '{id}' still has keys.") : false;
    }

    public async Task CreateKeyAsync(KeyRecord key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var inserted = await ExecuteAsync(
            $"INSERT INTO gw_keys ({KeyColumns}) VALUES (@id, @prefix, @hash, @team_id, @name, @allowed_models, @limits, @metadata, @expires_at, @revoked_at, @created_at, @updated_at) ON CONFLICT (id) DO NOTHING",
            command => BindKey(command, key),
            cancellationToken).ConfigureAwait(false);
        if (inserted == 0)
        {
            throw new InvalidOperationException($"Key '{key.Id}' already exists.");
        }
    }

    public async Task<KeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken)
    {
        var keys = await QueryAsync($"SELECT {KeyColumns} FROM gw_keys WHERE id = @id", command => SqlDialect.Add(command, "id", id), ReadKey, cancellationToken).ConfigureAwait(false);
        return keys.Count == 0 ? null : keys[0];
    }

    public async Task<IReadOnlyList<KeyRecord>> FindKeysByPrefixAsync(string prefix, CancellationToken cancellationToken)
        => await QueryAsync($"SELECT {KeyColumns} FROM gw_keys WHERE prefix = @prefix", command => SqlDialect.Add(command, "prefix", prefix), ReadKey, cancellationToken).ConfigureAwait(false);

    public async Task<IReadOnlyList<KeyRecord>> ListKeysAsync(string? teamId, CancellationToken cancellationToken)
    {
        var keys = teamId is null
            ? await QueryAsync($"SELECT {KeyColumns} FROM gw_keys", static _ => { }, ReadKey, cancellationToken).ConfigureAwait(false)
            : await QueryAsync($"SELECT {KeyColumns} FROM gw_keys WHERE team_id = @team_id", command => SqlDialect.Add(command, "team_id", teamId), ReadKey, cancellationToken).ConfigureAwait(false);
        keys.Sort(static (a, b) => a.CreatedAt.CompareTo(b.CreatedAt) is var c and not 0 ? c : string.CompareOrdinal(a.Id, b.Id));
        return keys;
    }

    public async Task<bool> UpdateKeyAsync(KeyRecord key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        return await ExecuteAsync(
            "UPDATE gw_keys SET prefix = @prefix, hash = @hash, team_id = @team_id, name = @name, allowed_models = @allowed_models, limits = @limits, metadata = @metadata, expires_at = @expires_at, revoked_at = @revoked_at, created_at = @created_at, updated_at = @updated_at WHERE id = @id",
            command => BindKey(command, key),
            cancellationToken).ConfigureAwait(false) > 0;
    }

    /// <summary>
    /// Whole UTC hours are read from the hourly rollup, the partial hours at either edge of the
    /// range from the ledger (by its ts index), and the parts are summed per group here: every
    /// ledger row lies in exactly one part, so the result is the ledger's own sum, exactly.
    /// </summary>
    public async Task<IReadOnlyList<UsageRow>> QueryUsageAsync(UsageQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var rows = new List<UsageRow>();
        foreach (var part in Split(query.From, query.To))
        {
            rows.AddRange(await QueryUsagePartAsync(query, part, cancellationToken).ConfigureAwait(false));
        }

        var merged = new Dictionary<(string?, string?, string?, string?, string?), UsageRow>();
        foreach (var row in rows)
        {
            // An aggregate without GROUP BY yields one row even over no rows; the reference yields none.
            if (row.Requests == 0)
            {
                continue;
            }

            var group = (row.KeyId, row.TeamId, row.Model, row.Day, row.Deployment);
            merged[group] = merged.TryGetValue(group, out var sum)
                ? sum with
                {
                    Requests = sum.Requests + row.Requests,
                    SuccessfulRequests = sum.SuccessfulRequests + row.SuccessfulRequests,
                    InputTokens = sum.InputTokens + row.InputTokens,
                    OutputTokens = sum.OutputTokens + row.OutputTokens,
                    CostUsd = sum.CostUsd + row.CostUsd,
                    CacheHits = sum.CacheHits + row.CacheHits,
                    SavedCostUsd = sum.SavedCostUsd + row.SavedCostUsd,
                }
                : row;
        }

        var result = merged.Values.ToList();
        result.Sort(static (a, b) =>
        {
            var c = string.CompareOrdinal(a.Day, b.Day);
            c = c != 0 ? c : string.CompareOrdinal(a.TeamId, b.TeamId);
            c = c != 0 ? c : string.CompareOrdinal(a.KeyId, b.KeyId);
            c = c != 0 ? c : string.CompareOrdinal(a.Model, b.Model);
            return c != 0 ? c : string.CompareOrdinal(a.Deployment, b.Deployment);
        });
        return result;
    }

    public async Task<decimal> GetSpendAsync(string? keyId, string? teamId, DateTimeOffset from, CancellationToken cancellationToken)
    {
        var total = 0m;
        foreach (var part in Split(from, to: null))
        {
            var sql = part.AppendSource(new StringBuilder("SELECT ").Append(dialect.SumMoney("cost_usd")));
            AppendFilters(sql, keyId, teamId, model: null);
            var sums = await QueryAsync(
                sql.ToString(),
                command =>
                {
                    part.Bind(command, dialect);
                    BindFilters(command, keyId, teamId, model: null);
                },
                reader => dialect.ReadMoney(reader, 0),
                cancellationToken).ConfigureAwait(false);
            total += sums.Count == 0 ? 0m : sums[0];
        }

        return total;
    }

    /// <summary>One part of a time range: read from the ledger or, for whole hours, from the rollup. A null end is open.</summary>
    private readonly record struct RangePart(bool Rollup, DateTimeOffset From, DateTimeOffset? To)
    {
        /// <summary>The part's time column: the rollup's hour or the ledger's ts.</summary>
        public string Time => Rollup ? "hour" : "ts";

        /// <summary>Appends " FROM table WHERE time &gt;= @from [AND time &lt; @to]" (bound by <see cref="Bind"/>).</summary>
        public StringBuilder AppendSource(StringBuilder sql)
        {
            sql.Append(Rollup ? " FROM gw_usage_hourly WHERE " : " FROM gw_ledger WHERE ").Append(Time).Append(" >= @from");
            return To is null ? sql : sql.Append(" AND ").Append(Time).Append(" < @to");
        }

        public void Bind(DbCommand command, SqlDialect dialect)
        {
            dialect.AddTimestamp(command, "from", From);
            if (To is { } to)
            {
                dialect.AddTimestamp(command, "to", to);
            }
        }
    }

    /// <summary>
    /// [from, to) as up to three parts: the ledger for [from, first whole hour), the rollup for
    /// the whole hours, the ledger for [last whole hour, to). A range inside less than one whole
    /// hour is read from the ledger alone.
    /// </summary>
    private static List<RangePart> Split(DateTimeOffset from, DateTimeOffset? to)
    {
        var parts = new List<RangePart>(3);
        var fromTicks = from.UtcTicks;
        var firstHour = UsageRollup.HourOf(fromTicks);
        if (firstHour != fromTicks)
        {
            // The first whole hour starts after from; past the calendar's end there is none.
            if (firstHour > DateTimeOffset.MaxValue.UtcTicks - TimeSpan.TicksPerHour)
            {
                parts.Add(new RangePart(Rollup: false, from, to));
                return parts;
            }

            firstHour += TimeSpan.TicksPerHour;
        }

        var lastHour = to is { } end ? UsageRollup.HourOf(end.UtcTicks) : (long?)null;
        if (lastHour is { } last && last <= firstHour)
        {
            parts.Add(new RangePart(Rollup: false, from, to));
            return parts;
        }

        var wholeFrom = new DateTimeOffset(firstHour, TimeSpan.Zero);
        if (firstHour != fromTicks)
        {
            parts.Add(new RangePart(Rollup: false, from, wholeFrom));
        }

        if (lastHour is { } lastWhole)
        {
            var wholeTo = new DateTimeOffset(lastWhole, TimeSpan.Zero);
            parts.Add(new RangePart(Rollup: true, wholeFrom, wholeTo));
            if (wholeTo < to!.Value)
            {
                parts.Add(new RangePart(Rollup: false, wholeTo, to));
            }
        }
        else
        {
            parts.Add(new RangePart(Rollup: true, wholeFrom, To: null));
        }

        return parts;
    }

    private async Task<List<UsageRow>> QueryUsagePartAsync(UsageQuery query, RangePart part, CancellationToken cancellationToken)
    {
        var byKey = query.GroupBy.Contains(UsageGrouping.Key);
        var byTeam = query.GroupBy.Contains(UsageGrouping.Team);
        var byModel = query.GroupBy.Contains(UsageGrouping.Model);
        var byDay = query.GroupBy.Contains(UsageGrouping.Day);
        var byDeployment = query.GroupBy.Contains(UsageGrouping.Deployment);

        // The rollup keeps a missing key or team as ''; NULLIF gives it back as NULL.
        var (key, team) = part.Rollup ? ("NULLIF(key_id, '')", "NULLIF(team_id, '')") : ("key_id", "team_id");
        var day = dialect.DayOf(part.Time);
        var sql = new StringBuilder("SELECT ")
            .Append(byKey ? key : "NULL").Append(", ")
            .Append(byTeam ? team : "NULL").Append(", ")
            .Append(byModel ? "model" : "NULL").Append(", ")
            .Append(byDay ? day : "NULL").Append(", ")
            .Append(part.Rollup ? "SUM(requests)" : "COUNT(*)").Append(", SUM(input_tokens), SUM(output_tokens), ").Append(dialect.SumMoney("cost_usd"))
            .Append(part.Rollup ? ", SUM(cache_hits), " : ", SUM(CASE WHEN cache <> '' THEN 1 ELSE 0 END), ").Append(dialect.SumMoney("saved_cost_usd")).Append(", ")
            .Append(byDeployment ? "deployment" : "NULL").Append(", ")
            .Append(part.Rollup ? "SUM(ok_requests)" : "SUM(CASE WHEN status = 'OK' THEN 1 ELSE 0 END)");
        part.AppendSource(sql);
        AppendFilters(sql, query.KeyId, query.TeamId, query.Model);

        var groups = new List<string>(5);
        if (byKey)
        {
            groups.Add(key);
        }

        if (byTeam)
        {
            groups.Add(team);
        }

        if (byModel)
        {
            groups.Add("model");
        }

        if (byDay)
        {
            groups.Add(day);
        }

        if (byDeployment)
        {
            groups.Add("deployment");
        }

        if (groups.Count > 0)
        {
            sql.Append(" GROUP BY ").AppendJoin(", ", groups);
        }

        return await QueryAsync(
            sql.ToString(),
            command =>
            {
                part.Bind(command, dialect);
                BindFilters(command, query.KeyId, query.TeamId, query.Model);
            },
            reader => new UsageRow
            {
                KeyId = reader.IsDBNull(0) ? null : reader.GetString(0),
                TeamId = reader.IsDBNull(1) ? null : reader.GetString(1),
                Model = reader.IsDBNull(2) ? null : reader.GetString(2),
                Day = reader.IsDBNull(3) ? null : dialect.ReadDay(reader, 3),
                Requests = Long(reader, 4),
                InputTokens = Long(reader, 5),
                OutputTokens = Long(reader, 6),
                CostUsd = dialect.ReadMoney(reader, 7),
                CacheHits = Long(reader, 8),
                SavedCostUsd = dialect.ReadMoney(reader, 9),
                Deployment = reader.IsDBNull(10) ? null : reader.GetString(10),
                SuccessfulRequests = Long(reader, 11),
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A SUM or COUNT as a long: NULL over no rows is 0; PostgreSQL's SUM(bigint) is numeric.</summary>
    private static long Long(DbDataReader reader, int ordinal)
        => reader.IsDBNull(ordinal) ? 0 : Convert.ToInt64(reader.GetValue(ordinal), System.Globalization.CultureInfo.InvariantCulture);

    public async Task<bool> TryRecordBudgetAlertAsync(string scope, string period, int thresholdPercent, CancellationToken cancellationToken)
        => await ExecuteAsync(
            "INSERT INTO gw_budget_alerts (scope, period, threshold_percent) VALUES (@scope, @period, @threshold) ON CONFLICT (scope, period, threshold_percent) DO NOTHING",
            command =>
            {
                SqlDialect.Add(command, "scope", scope);
                SqlDialect.Add(command, "period", period);
                SqlDialect.Add(command, "threshold", thresholdPercent);
            },
            cancellationToken).ConfigureAwait(false) > 0;

    private static void AppendFilters(StringBuilder sql, string? keyId, string? teamId, string? model)
    {
        if (keyId is not null)
        {
            sql.Append(" AND key_id = @key_id");
        }

        if (teamId is not null)
        {
            sql.Append(" AND team_id = @team_id");
        }

        if (model is not null)
        {
            sql.Append(" AND model = @model");
        }
    }

    private static void BindFilters(DbCommand command, string? keyId, string? teamId, string? model)
    {
        if (keyId is not null)
        {
            SqlDialect.Add(command, "key_id", keyId);
        }

        if (teamId is not null)
        {
            SqlDialect.Add(command, "team_id", teamId);
        }

        if (model is not null)
        {
            SqlDialect.Add(command, "model", model);
        }
    }

    private void BindTeam(DbCommand command, TeamRecord team)
    {
        SqlDialect.Add(command, "id", team.Id);
        SqlDialect.Add(command, "name", team.Name);
        dialect.AddJson(command, "allowed_models", StoreJson.Models(team.AllowedModels));
        dialect.AddJson(command, "limits", StoreJson.Limits(team.Limits));
        dialect.AddJson(command, "metadata", StoreJson.Metadata(team.Metadata));
        SqlDialect.Add(command, "log_bodies", team.LogBodies);
        dialect.AddTimestamp(command, "created_at", team.CreatedAt);
        dialect.AddTimestamp(command, "updated_at", team.UpdatedAt);
    }

    private TeamRecord ReadTeam(DbDataReader reader) => new()
    {
        Id = reader.GetString(0),
        Name = reader.GetString(1),
        AllowedModels = StoreJson.ReadModels(reader.GetString(2), "gw_teams.allowed_models"),
        Limits = StoreJson.ReadLimits(reader.GetString(3), "gw_teams.limits"),
        Metadata = StoreJson.ReadMetadata(reader.GetString(4), "gw_teams.metadata"),
        LogBodies = reader.GetBoolean(5),
        CreatedAt = dialect.ReadTimestamp(reader, 6),
        UpdatedAt = dialect.ReadTimestamp(reader, 7),
    };

    private void BindKey(DbCommand command, KeyRecord key)
    {
        SqlDialect.Add(command, "id", key.Id);
        SqlDialect.Add(command, "prefix", key.Prefix);
        SqlDialect.Add(command, "hash", key.Hash);
        SqlDialect.Add(command, "team_id", key.TeamId);
        SqlDialect.Add(command, "name", key.Name);
        dialect.AddJson(command, "allowed_models", StoreJson.Models(key.AllowedModels));
        dialect.AddJson(command, "limits", StoreJson.Limits(key.Limits));
        dialect.AddJson(command, "metadata", StoreJson.Metadata(key.Metadata));
        dialect.AddTimestamp(command, "expires_at", key.ExpiresAt);
        dialect.AddTimestamp(command, "revoked_at", key.RevokedAt);
        dialect.AddTimestamp(command, "created_at", key.CreatedAt);
        dialect.AddTimestamp(command, "updated_at", key.UpdatedAt);
    }

    private KeyRecord ReadKey(DbDataReader reader) => new()
    {
        Id = reader.GetString(0),
        Prefix = reader.GetString(1),
        Hash = reader.GetString(2),
        TeamId = reader.IsDBNull(3) ? null : reader.GetString(3),
        Name = reader.GetString(4),
        AllowedModels = StoreJson.ReadModels(reader.GetString(5), "gw_keys.allowed_models"),
        Limits = StoreJson.ReadLimits(reader.GetString(6), "gw_keys.limits"),
        Metadata = StoreJson.ReadMetadata(reader.GetString(7), "gw_keys.metadata"),
        ExpiresAt = dialect.ReadNullableTimestamp(reader, 8),
        RevokedAt = dialect.ReadNullableTimestamp(reader, 9),
        CreatedAt = dialect.ReadTimestamp(reader, 10),
        UpdatedAt = dialect.ReadTimestamp(reader, 11),
    };

    private async Task<int> ExecuteAsync(string sql, Action<DbCommand> bind, CancellationToken cancellationToken)
    {
        var connection = await open(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var command = connection.CreateCommand();
            await using (command.ConfigureAwait(false))
            {
                command.CommandText = sql;
                bind(command);
                return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<List<T>> QueryAsync<T>(string sql, Action<DbCommand> bind, Func<DbDataReader, T> read, CancellationToken cancellationToken)
    {
        var connection = await open(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var command = connection.CreateCommand();
            await using (command.ConfigureAwait(false))
            {
                command.CommandText = sql;
                bind(command);
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    var results = new List<T>();
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        results.Add(read(reader));
                    }

                    return results;
                }
            }
        }
    }
}
