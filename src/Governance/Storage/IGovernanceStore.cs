namespace Gateway.Grpc.Governance.Storage;

/// <summary>
/// Durable storage for teams, keys and the spend ledger. SQLite is the embedded default,
/// PostgreSQL the production store; both apply their schema migrations on <see cref="MigrateAsync"/>.
/// </summary>
public interface IGovernanceStore
{
    /// <summary>Creates or upgrades the schema (idempotent, safe with several replicas starting at once).</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>One cheap round trip to the store (readiness): throws when it cannot be reached.</summary>
    Task PingAsync(CancellationToken cancellationToken);

    Task CreateTeamAsync(TeamRecord team, CancellationToken cancellationToken);

    Task<TeamRecord?> GetTeamAsync(string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<TeamRecord>> ListTeamsAsync(CancellationToken cancellationToken);

    /// <summary>Replaces the team's row; false when it does not exist.</summary>
    Task<bool> UpdateTeamAsync(TeamRecord team, CancellationToken cancellationToken);

    /// <summary>Deletes a team that has no keys; false when it does not exist.</summary>
    Task<bool> DeleteTeamAsync(string id, CancellationToken cancellationToken);

    Task CreateKeyAsync(KeyRecord key, CancellationToken cancellationToken);

    Task<KeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken);

    /// <summary>Keys whose prefix equals <paramref name="prefix"/> (normally one).</summary>
    Task<IReadOnlyList<KeyRecord>> FindKeysByPrefixAsync(string prefix, CancellationToken cancellationToken);

    Task<IReadOnlyList<KeyRecord>> ListKeysAsync(string? teamId, CancellationToken cancellationToken);

    /// <summary>Replaces the key's row (prefix and hash included, for rotation); false when it does not exist.</summary>
    Task<bool> UpdateKeyAsync(KeyRecord key, CancellationToken cancellationToken);

    /// <summary>Appends ledger rows in one transaction; rows whose request id exists are skipped.</summary>
    Task AppendLedgerAsync(IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken);

    Task<IReadOnlyList<UsageRow>> QueryUsageAsync(UsageQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Records that a budget alert fired for a scope ("key:ID" or "team:ID"), a period
    /// ("2026-11") and a threshold percent (50, 80, 100). Returns false when it was already
    /// recorded, so each alert fires once across replicas and restarts.
    /// </summary>
    Task<bool> TryRecordBudgetAlertAsync(string scope, string period, int thresholdPercent, CancellationToken cancellationToken);

    /// <summary>Total cost since <paramref name="from"/> for a key or a team (one of them non-null).</summary>
    Task<decimal> GetSpendAsync(string? keyId, string? teamId, DateTimeOffset from, CancellationToken cancellationToken);
}
