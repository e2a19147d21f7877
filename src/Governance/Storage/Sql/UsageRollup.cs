namespace Gateway.Grpc.Governance.Storage.Sql;

/// <summary>
/// One ledger batch summed per (UTC hour, key, team, model, deployment): what the SQLite store
/// adds to <c>gw_usage_hourly</c> in the batch's transaction. A missing key or team is "".
/// </summary>
internal sealed class UsageRollup : Dictionary<UsageRollup.Group, UsageRollup.Sums>
{
    public void Add(LedgerEntry entry)
    {
        var group = new Group(HourOf(entry.Timestamp.UtcTicks), entry.KeyId ?? "", entry.TeamId ?? "", entry.Model, entry.Deployment);
        TryGetValue(group, out var sums);
        sums.Requests++;
        sums.SuccessfulRequests += entry.Status == "OK" ? 1 : 0;
        sums.InputTokens += entry.InputTokens;
        sums.OutputTokens += entry.OutputTokens;
        sums.CostUsd += entry.CostUsd;
        sums.CacheHits += entry.Cache.Length > 0 ? 1 : 0;
        sums.SavedCostUsd += entry.SavedCostUsd;
        this[group] = sums;
    }

    /// <summary>The start of the UTC hour holding <paramref name="ticks"/> (ticks are never negative, so % is the floor).</summary>
    public static long HourOf(long ticks) => ticks - (ticks % TimeSpan.TicksPerHour);

    public readonly record struct Group(long Hour, string KeyId, string TeamId, string Model, string Deployment);

    public struct Sums
    {
        public long Requests;
        public long SuccessfulRequests;
        public long InputTokens;
        public long OutputTokens;
        public decimal CostUsd;
        public long CacheHits;
        public decimal SavedCostUsd;
    }
}
