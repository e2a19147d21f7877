using Gateway.Grpc.Governance.Storage;

namespace Gateway.Grpc.Governance.Tests.Infrastructure;

/// <summary>A store whose first ledger appends fail, before or after the rows reach the inner store.</summary>
public sealed class FlakyStore(IGovernanceStore inner, FlakyStore.Mode mode, int failures) : IGovernanceStore
{
    private int _remaining = failures;
    private int _failed;

    public enum Mode
    {
        FailBeforeWriting,
        FailAfterWriting,
    }

    public int Failed => Volatile.Read(ref _failed);

    public async Task AppendLedgerAsync(IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken)
    {
        var fail = Interlocked.Decrement(ref _remaining) >= 0;
        if (fail && mode == Mode.FailBeforeWriting)
        {
            Interlocked.Increment(ref _failed);
            throw new TimeoutException("simulated: store unavailable");
        }

        await inner.AppendLedgerAsync(entries, cancellationToken);
        if (fail)
        {
            Interlocked.Increment(ref _failed);
            throw new TimeoutException("simulated: connection lost after commit");
        }
    }

    public Task MigrateAsync(CancellationToken cancellationToken) => inner.MigrateAsync(cancellationToken);

    public Task PingAsync(CancellationToken cancellationToken) => inner.PingAsync(cancellationToken);

    public Task CreateTeamAsync(TeamRecord team, CancellationToken cancellationToken) => inner.CreateTeamAsync(team, cancellationToken);

    public Task<TeamRecord?> GetTeamAsync(string id, CancellationToken cancellationToken) => inner.GetTeamAsync(id, cancellationToken);

    public Task<IReadOnlyList<TeamRecord>> ListTeamsAsync(CancellationToken cancellationToken) => inner.ListTeamsAsync(cancellationToken);

    public Task<bool> UpdateTeamAsync(TeamRecord team, CancellationToken cancellationToken) => inner.UpdateTeamAsync(team, cancellationToken);

    public Task<bool> DeleteTeamAsync(string id, CancellationToken cancellationToken) => inner.DeleteTeamAsync(id, cancellationToken);

    public Task CreateKeyAsync(KeyRecord key, CancellationToken cancellationToken) => inner.CreateKeyAsync(key, cancellationToken);

    public Task<KeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken) => inner.GetKeyAsync(id, cancellationToken);

    /// <summary>While true, key lookups fail as a store that is down does.</summary>
    public bool FailKeyLookups { get; set; }

    public Task<IReadOnlyList<KeyRecord>> FindKeysByPrefixAsync(string prefix, CancellationToken cancellationToken)
        => FailKeyLookups ? throw new TimeoutException("simulated: store unavailable") : inner.FindKeysByPrefixAsync(prefix, cancellationToken);

    public Task<IReadOnlyList<KeyRecord>> ListKeysAsync(string? teamId, CancellationToken cancellationToken) => inner.ListKeysAsync(teamId, cancellationToken);

    public Task<bool> UpdateKeyAsync(KeyRecord key, CancellationToken cancellationToken) => inner.UpdateKeyAsync(key, cancellationToken);

    public Task<IReadOnlyList<UsageRow>> QueryUsageAsync(UsageQuery query, CancellationToken cancellationToken) => inner.QueryUsageAsync(query, cancellationToken);

    public Task<bool> TryRecordBudgetAlertAsync(string scope, string period, int thresholdPercent, CancellationToken cancellationToken)
        => inner.TryRecordBudgetAlertAsync(scope, period, thresholdPercent, cancellationToken);

    public Task<decimal> GetSpendAsync(string? keyId, string? teamId, DateTimeOffset from, CancellationToken cancellationToken)
        => inner.GetSpendAsync(keyId, teamId, from, cancellationToken);
}
