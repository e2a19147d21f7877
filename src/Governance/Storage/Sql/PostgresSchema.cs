namespace Gateway.Grpc.Governance.Storage.Sql;

/// <summary>
/// The PostgreSQL schema, as versioned steps. Timestamps are timestamptz (microsecond
/// precision), money is numeric without a scale limit (exact sums), lists, maps and limits are jsonb.
/// </summary>
internal static class PostgresSchema
{
    public const string MigrationsTable = "gw_schema_migrations";

    /// <summary>
    /// The key of the transaction-level advisory lock every migration step takes, so replicas
    /// starting at once apply each step exactly once ("gwschema" in ASCII).
    /// </summary>
    public const long AdvisoryLockKey = 0x6777_7363_6865_6D61;

    public static readonly IReadOnlyList<SchemaMigration> Migrations = SchemaMigration.Validate(
    [
        new(1, "teams and keys", """
            CREATE TABLE gw_teams (
                id text PRIMARY KEY,
                name text NOT NULL,
                allowed_models jsonb NOT NULL,
                limits jsonb NOT NULL,
                metadata jsonb NOT NULL,
                log_bodies boolean NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            );
            CREATE TABLE gw_keys (
                id text PRIMARY KEY,
                prefix text NOT NULL,
                hash text NOT NULL,
                team_id text NULL,
                name text NOT NULL,
                allowed_models jsonb NOT NULL,
                limits jsonb NOT NULL,
                metadata jsonb NOT NULL,
                expires_at timestamptz NULL,
                revoked_at timestamptz NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            );
            CREATE INDEX gw_keys_prefix ON gw_keys (prefix);
            CREATE INDEX gw_keys_team ON gw_keys (team_id);
            """),
        new(2, "spend ledger", """
            CREATE TABLE gw_ledger (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                request_id text NOT NULL UNIQUE,
                ts timestamptz NOT NULL,
                key_id text NULL,
                team_id text NULL,
                model text NOT NULL,
                deployment text NOT NULL,
                provider text NOT NULL,
                route text NOT NULL,
                stream boolean NOT NULL,
                input_tokens bigint NOT NULL,
                output_tokens bigint NOT NULL,
                cached_input_tokens bigint NOT NULL,
                cost_usd numeric NOT NULL,
                abandoned_cost_usd numeric NOT NULL,
                latency_ms bigint NOT NULL,
                ttft_ms bigint NULL,
                status text NOT NULL,
                estimated boolean NOT NULL,
                attempts integer NOT NULL
            );
            CREATE INDEX gw_ledger_ts ON gw_ledger (ts);
            CREATE INDEX gw_ledger_key_ts ON gw_ledger (key_id, ts);
            CREATE INDEX gw_ledger_team_ts ON gw_ledger (team_id, ts);
            CREATE INDEX gw_ledger_model_ts ON gw_ledger (model, ts);
            """),
        new(3, "budget alerts", """
            CREATE TABLE gw_budget_alerts (
                scope text NOT NULL,
                period text NOT NULL,
                threshold_percent integer NOT NULL,
                recorded_at timestamptz NOT NULL DEFAULT now(),
                UNIQUE (scope, period, threshold_percent)
            );
            """),
        new(4, "ledger: response-cache hits", """
            ALTER TABLE gw_ledger ADD COLUMN cache text NOT NULL DEFAULT '';
            ALTER TABLE gw_ledger ADD COLUMN saved_cost_usd numeric NOT NULL DEFAULT 0;
            """),

        // As SQLite's step 5: whole hours come from the rollup, edge hours from the ledger's ts
        // index. A missing key or team is '' so the upsert's conflict target matches it.
        new(5, "hourly usage rollup", """
            CREATE TABLE gw_usage_hourly (
                hour timestamptz NOT NULL,
                key_id text NOT NULL,
                team_id text NOT NULL,
                model text NOT NULL,
                deployment text NOT NULL,
                requests bigint NOT NULL,
                ok_requests bigint NOT NULL,
                input_tokens bigint NOT NULL,
                output_tokens bigint NOT NULL,
                cost_usd numeric NOT NULL,
                cache_hits bigint NOT NULL,
                saved_cost_usd numeric NOT NULL,
                PRIMARY KEY (hour, key_id, team_id, model, deployment)
            );
            CREATE INDEX gw_usage_hourly_key ON gw_usage_hourly (key_id, hour);
            CREATE INDEX gw_usage_hourly_team ON gw_usage_hourly (team_id, hour);
            INSERT INTO gw_usage_hourly
                SELECT date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', COALESCE(key_id, ''), COALESCE(team_id, ''), model, deployment,
                    COUNT(*), COUNT(*) FILTER (WHERE status = 'OK'), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd),
                    COUNT(*) FILTER (WHERE cache <> ''), SUM(saved_cost_usd)
                FROM gw_ledger GROUP BY 1, 2, 3, 4, 5;
            DROP INDEX gw_ledger_key_ts;
            DROP INDEX gw_ledger_team_ts;
            DROP INDEX gw_ledger_model_ts;
            """),
    ]);
}
