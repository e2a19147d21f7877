using System.Collections.Concurrent;
using System.Globalization;
using Gateway.Grpc.Governance.Storage;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Governance.Budgets;

/// <summary>A budget alert: a scope crossed a threshold of its monthly budget.</summary>
public sealed record BudgetAlert(string Scope, string Period, int ThresholdPercent, decimal SpentUsd, decimal BudgetUsd);

/// <summary>An admitted call's reserved share of a budget, settled with its actual cost.</summary>
public sealed class BudgetHold
{
    internal BudgetHold(string scope, BudgetTracker.Entry entry, decimal amount)
    {
        Scope = scope;
        Entry = entry;
        Amount = amount;
    }

    public string Scope { get; }

    public decimal Amount { get; }

    internal BudgetTracker.Entry Entry { get; }
}

/// <summary>
/// Monthly spend per key and team (calendar month, UTC). The month's spend is loaded from the
/// ledger once, then kept current from each call's cost. Alerts at 50, 80 and 100 % fire once
/// per scope and month (deduplicated in the store, so across restarts and replicas too).
/// </summary>
public sealed partial class BudgetTracker(IGovernanceStore store, TimeProvider timeProvider, ILogger<BudgetTracker> logger)
{
    private static readonly int[] Thresholds = [50, 80, 100];

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Raised once per crossed threshold (log, metric, webhook subscribe here).</summary>
    public event Action<BudgetAlert>? AlertRaised;

    public string CurrentPeriod => timeProvider.GetUtcNow().UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    public async ValueTask<decimal> GetSpentAsync(string scope, CancellationToken cancellationToken)
        => (await GetEntryAsync(scope, cancellationToken).ConfigureAwait(false)).Spent;

    /// <summary>
    /// Admits a call against a budget: refused when the month's spend plus what calls in flight
    /// have reserved already reaches the budget; otherwise the call's estimated cost is reserved
    /// until <see cref="SettleAsync"/>. Concurrent calls therefore cross a budget by at most one
    /// call's cost, instead of every call in flight passing the same stale check.
    /// </summary>
    public async ValueTask<BudgetHold?> TryReserveAsync(string scope, decimal budget, decimal estimate, CancellationToken cancellationToken)
    {
        var entry = await GetEntryAsync(scope, cancellationToken).ConfigureAwait(false);
        estimate = Math.Max(estimate, 0m);
        lock (entry)
        {
            if (entry.Spent + entry.Reserved >= budget)
            {
                return null;
            }

            entry.Reserved += estimate;
        }

        return new BudgetHold(scope, entry, estimate);
    }

    /// <summary>Returns a reservation without spending (the call was refused after it was admitted here).</summary>
    public static void Release(BudgetHold hold)
    {
        lock (hold.Entry)
        {
            hold.Entry.Reserved = Math.Max(0m, hold.Entry.Reserved - hold.Amount);
        }
    }

    /// <summary>Replaces a call's reservation with its actual cost and raises the alerts it crosses.</summary>
    public ValueTask SettleAsync(BudgetHold hold, decimal cost, decimal? budget, CancellationToken cancellationToken)
        => AddAsync(hold.Entry, hold.Scope, cost, hold.Amount, budget, cancellationToken);

    /// <summary>Adds a call's cost and raises the alerts it crosses.</summary>
    public async ValueTask AddAsync(string scope, decimal cost, decimal? budget, CancellationToken cancellationToken)
    {
        if (cost <= 0)
        {
            return;
        }

        var entry = await GetEntryAsync(scope, cancellationToken).ConfigureAwait(false);
        await AddAsync(entry, scope, cost, 0m, budget, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask AddAsync(Entry entry, string scope, decimal cost, decimal reserved, decimal? budget, CancellationToken cancellationToken)
    {
        cost = Math.Max(cost, 0m);
        decimal before, after;
        lock (entry)
        {
            entry.Reserved = Math.Max(0m, entry.Reserved - reserved);
            before = entry.Spent;
            entry.Spent += cost;
            after = entry.Spent;
        }

        if (cost == 0)
        {
            return;
        }

        if (budget is not { } limit || limit <= 0)
        {
            return;
        }

        foreach (var threshold in Thresholds)
        {
            var mark = limit * threshold / 100m;
            if (before < mark && after >= mark
                && await store.TryRecordBudgetAlertAsync(scope, entry.Period, threshold, cancellationToken).ConfigureAwait(false))
            {
                var alert = new BudgetAlert(scope, entry.Period, threshold, after, limit);
                Log.BudgetAlert(logger, scope, threshold, after, limit);
                AlertRaised?.Invoke(alert);
            }
        }
    }

    private async ValueTask<Entry> GetEntryAsync(string scope, CancellationToken cancellationToken)
    {
        var period = CurrentPeriod;
        if (_entries.TryGetValue(scope, out var entry) && entry.Period == period)
        {
            return entry;
        }

        var now = timeProvider.GetUtcNow().UtcDateTime;
        var monthStart = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var (keyId, teamId) = ParseScope(scope);
        var spent = await store.GetSpendAsync(keyId, teamId, monthStart, cancellationToken).ConfigureAwait(false);
        var fresh = new Entry(period) { Spent = spent };
        return _entries.AddOrUpdate(scope, fresh, (_, existing) => existing.Period == period ? existing : fresh);
    }

    public static string KeyScope(string keyId) => "key:" + keyId;

    public static string TeamScope(string teamId) => "team:" + teamId;

    private static (string? KeyId, string? TeamId) ParseScope(string scope)
        => scope.StartsWith("key:", StringComparison.Ordinal) ? (scope[4..], null) : (null, scope[5..]);

    internal sealed class Entry(string period)
    {
        public string Period { get; } = period;

        public decimal Spent { get; set; }

        /// <summary>Estimated cost of the calls admitted and not yet settled.</summary>
        public decimal Reserved { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(300, LogLevel.Warning, "Budget alert: {Scope} has spent {Spent} USD, {Threshold}% of its {Budget} USD monthly budget.", EventName = "BudgetAlert")]
        public static partial void BudgetAlert(ILogger logger, string scope, int threshold, decimal spent, decimal budget);
    }
}
