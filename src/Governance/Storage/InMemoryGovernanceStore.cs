using System.Collections.Concurrent;

namespace Gateway.Grpc.Governance.Storage;

/// <summary>A process-local store (<c>store: { kind: memory }</c>): for tests and throwaway runs.</summary>
public sealed class InMemoryGovernanceStore : IGovernanceStore
{
    private readonly ConcurrentDictionary<string, TeamRecord> _teams = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, KeyRecord> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, LedgerEntry> _ledger = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _alerts = new(StringComparer.Ordinal);

    public IReadOnlyCollection<LedgerEntry> Ledger => _ledger.Values.ToArray();

    public Task MigrateAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task CreateTeamAsync(TeamRecord team, CancellationToken cancellationToken)
    {
        if (!_teams.TryAdd(team.Id, team))
        {
            throw new InvalidOperationException($"Team '{team.Id}' already exists.");
        }

        return Task.CompletedTask;
    }

    public Task<TeamRecord?> GetTeamAsync(string id, CancellationToken cancellationToken) => Task.FromResult(_teams.GetValueOrDefault(id));

    public Task<IReadOnlyList<TeamRecord>> ListTeamsAsync(CancellationToken cancellationToken)
        => Task.FromResult<IReadOnlyList<TeamRecord>>(_teams.Values.OrderBy(t => t.CreatedAt).ThenBy(t => t.Id, StringComparer.Ordinal).ToArray());

    public Task<bool> UpdateTeamAsync(TeamRecord team, CancellationToken cancellationToken)
    {
        if (!_teams.ContainsKey(team.Id))
        {
            return Task.FromResult(false);
        }

        _teams[team.Id] = team;
        return Task.FromResult(true);
    }

    public Task<bool> DeleteTeamAsync(string id, CancellationToken cancellationToken)
    {
        if (_keys.Values.Any(k => k.TeamId == id))
        {
            throw new InvalidOperationException($"Team '{id}' still has keys.");
        }

        return Task.FromResult(_teams.TryRemove(id, out _));
    }

    public Task CreateKeyAsync(KeyRecord key, CancellationToken cancellationToken)
    {
        if (!_keys.TryAdd(key.Id, key))
        {
            throw new InvalidOperationException($"Key '{key.Id}' already exists.");
        }

        return Task.CompletedTask;
    }

    public Task<KeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken) => Task.FromResult(_keys.GetValueOrDefault(id));

    public Task<IReadOnlyList<KeyRecord>> FindKeysByPrefixAsync(string prefix, CancellationToken cancellationToken)
        => Task.FromResult<IReadOnlyList<KeyRecord>>(_keys.Values.Where(k => k.Prefix == prefix).ToArray());

    public Task<IReadOnlyList<KeyRecord>> ListKeysAsync(string? teamId, CancellationToken cancellationToken)
        => Task.FromResult<IReadOnlyList<KeyRecord>>(_keys.Values.Where(k => teamId is null || k.TeamId == teamId).OrderBy(k => k.CreatedAt).ThenBy(k => k.Id, StringComparer.Ordinal).ToArray());

    public Task<bool> UpdateKeyAsync(KeyRecord key, CancellationToken cancellationToken)
    {
        if (!_keys.ContainsKey(key.Id))
        {
            return Task.FromResult(false);
        }

        _keys[key.Id] = key;
        return Task.FromResult(true);
    }

    public Task PingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task AppendLedgerAsync(IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken)
    {
        foreach (var entry in entries)
        {
            _ledger.TryAdd(entry.RequestId, entry);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<UsageRow>> QueryUsageAsync(UsageQuery query, CancellationToken cancellationToken)
    {
        var rows = _ledger.Values
            .Where(e => e.Timestamp >= query.From && e.Timestamp < query.To)
            .Where(e => query.KeyId is null || e.KeyId == query.KeyId)
            .Where(e => query.TeamId is null || e.TeamId == query.TeamId)
            .Where(e => query.Model is null || e.Model == query.Model)
            .GroupBy(e => (
                Key: query.GroupBy.Contains(UsageGrouping.Key) ? e.KeyId : null,
                Team: query.GroupBy.Contains(UsageGrouping.Team) ? e.TeamId : null,
                Model: query.GroupBy.Contains(UsageGrouping.Model) ? e.Model : null,
                Day: query.GroupBy.Contains(UsageGrouping.Day) ? e.Timestamp.UtcDateTime.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) : null,
                Deployment: query.GroupBy.Contains(UsageGrouping.Deployment) ? e.Deployment : null))
            .Select(g => new UsageRow
            {
                KeyId = g.Key.Key,
                TeamId = g.Key.Team,
                Model = g.Key.Model,
                Day = g.Key.Day,
                Deployment = g.Key.Deployment,
                Requests = g.LongCount(),
                SuccessfulRequests = g.LongCount(e => e.Status == "OK"),
                InputTokens = g.Sum(e => e.InputTokens),
                OutputTokens = g.Sum(e => e.OutputTokens),
                CostUsd = g.Sum(e => e.CostUsd),
                CacheHits = g.LongCount(e => e.Cache.Length > 0),
                SavedCostUsd = g.Sum(e => e.SavedCostUsd),
            })
            .OrderBy(r => r.Day, StringComparer.Ordinal).ThenBy(r => r.TeamId, StringComparer.Ordinal).ThenBy(r => r.KeyId, StringComparer.Ordinal).ThenBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => r.Deployment, StringComparer.Ordinal)
            .ToArray();
        return Task.FromResult<IReadOnlyList<UsageRow>>(rows);
    }

    public Task<bool> TryRecordBudgetAlertAsync(string scope, string period, int thresholdPercent, CancellationToken cancellationToken)
        => Task.FromResult(_alerts.TryAdd($"{scope}|{period}|{thresholdPercent}", 0));

    public Task<decimal> GetSpendAsync(string? keyId, string? teamId, DateTimeOffset from, CancellationToken cancellationToken)
        => Task.FromResult(_ledger.Values
            .Where(e => e.Timestamp >= from && (keyId is null || e.KeyId == keyId) && (teamId is null || e.TeamId == teamId))
            .Sum(e => e.CostUsd));
}
