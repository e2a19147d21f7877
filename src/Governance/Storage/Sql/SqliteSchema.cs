namespace Gateway.Grpc.Governance.Storage.Sql;

/// <summary>
/// The SQLite schema, as versioned steps. Types: timestamps are INTEGER UTC ticks (100 ns since
/// 0001-01-01, the full precision of <see cref="DateTimeOffset"/>), money is TEXT holding an
/// invariant-culture decimal (summed exactly by the <c>gw_decimal_sum</c> aggregate the store
/// registers; SQLite's own SUM would go through a double), lists, maps and limits are JSON TEXT.
/// STRICT tables make SQLite enforce the column types.
/// </summary>
internal static class SqliteSchema
{
    public const string MigrationsTable = "gw_schema_migrations";

    public static readonly IReadOnlyList<SchemaMigration> Migrations = SchemaMigration.Validate(
    [
        new(1, "teams and keys", """
            CREATE TABLE gw_teams (
                id TEXT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                allowed_models TEXT NOT NULL,
                limits TEXT NOT NULL,
                metadata TEXT NOT NULL,
                log_bodies INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            ) STRICT;
            CREATE TABLE gw_keys (
                id TEXT NOT NULL PRIMARY KEY,
                prefix TEXT NOT NULL,
                hash TEXT NOT NULL,
                team_id TEXT NULL,
                name TEXT NOT NULL,
                allowed_models TEXT NOT NULL,
                limits TEXT NOT NULL,
                metadata TEXT NOT NULL,
                expires_at INTEGER NULL,
                revoked_at INTEGER NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX gw_keys_prefix ON gw_keys (prefix);
            CREATE INDEX gw_keys_team ON gw_keys (team_id);
            """),
        new(2, "spend ledger", """
            CREATE TABLE gw_ledger (
                id INTEGER PRIMARY KEY,
                request_id TEXT NOT NULL UNIQUE,
                ts INTEGER NOT NULL,
                key_id TEXT NULL,
                team_id TEXT NULL,
                model TEXT NOT NULL,
                deployment TEXT NOT NULL,
                provider TEXT NOT NULL,
                route TEXT NOT NULL,
                stream INTEGER NOT NULL,
                input_tokens INTEGER NOT NULL,
                output_tokens INTEGER NOT NULL,
                cached_input_tokens INTEGER NOT NULL,
                cost_usd TEXT NOT NULL,
                abandoned_cost_usd TEXT NOT NULL,
                latency_ms INTEGER NOT NULL,
                ttft_ms INTEGER NULL,
                status TEXT NOT NULL,
                estimated INTEGER NOT NULL,
                attempts INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX gw_ledger_ts ON gw_ledger (ts);
            CREATE INDEX gw_ledger_key_ts ON gw_ledger (key_id, ts);
            CREATE INDEX gw_ledger_team_ts ON gw_ledger (team_id, ts);
            CREATE INDEX gw_ledger_model_ts ON gw_ledger (model, ts);
            """),
        new(3, "budget alerts", """
            CREATE TABLE gw_budget_alerts (
                scope TEXT NOT NULL,
                period TEXT NOT NULL,
                threshold_percent INTEGER NOT NULL,
                recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                UNIQUE (scope, period, threshold_percent)
            ) STRICT;
            """),
        new(4, "ledger: response-cache hits", """
            ALTER TABLE gw_ledger ADD COLUMN cache TEXT NOT NULL DEFAULT '';
            ALTER TABLE gw_ledger ADD COLUMN saved_cost_usd TEXT NOT NULL DEFAULT '0';
            """),

        // Usage and spend queries read whole hours from the rollup and only the partial edge
        // hours from the ledger (by its ts index), so the three (column, ts) ledger indexes go:
        // they cost 2.6-5 us of the 8-10 us each appended row took (bench/NOTES.md). A missing
        // key or team is '' in the rollup's primary key (SQLite's UNIQUE treats NULLs as
        // distinct); ids are never empty, the API already reads '' as "none".
        new(5, "hourly usage rollup", """
            CREATE TABLE gw_usage_hourly (
                hour INTEGER NOT NULL,
                key_id TEXT NOT NULL,
                team_id TEXT NOT NULL,
                model TEXT NOT NULL,
                deployment TEXT NOT NULL,
                requests INTEGER NOT NULL,
                ok_requests INTEGER NOT NULL,
                input_tokens INTEGER NOT NULL,
                output_tokens INTEGER NOT NULL,
                cost_usd TEXT NOT NULL,
                cache_hits INTEGER NOT NULL,
                saved_cost_usd TEXT NOT NULL,
                PRIMARY KEY (hour, key_id, team_id, model, deployment)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX gw_usage_hourly_key ON gw_usage_hourly (key_id, hour);
            CREATE INDEX gw_usage_hourly_team ON gw_usage_hourly (team_id, hour);
            INSERT INTO gw_usage_hourly
                SELECT ts - ts % 36000000000, COALESCE(key_id, ''), COALESCE(team_id, ''), model, deployment,
                    COUNT(*), SUM(status = 'OK'), SUM(input_tokens), SUM(output_tokens), gw_decimal_sum(cost_usd),
                    SUM(cache <> ''), gw_decimal_sum(saved_cost_usd)
                FROM gw_ledger GROUP BY 1, 2, 3, 4, 5;
            DROP INDEX gw_ledger_key_ts;
            DROP INDEX gw_ledger_team_ts;
            DROP INDEX gw_ledger_model_ts;
            """),
    ]);
}
