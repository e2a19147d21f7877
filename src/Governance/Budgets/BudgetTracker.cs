using System.Collections.Concurrent;
using System.Globalization;
using Gateway.Grpc.Governance.Limits;
using Gateway.Grpc.Governance.Storage;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Governance.Budgets;

/// <summary>A budget alert: a scope crossed a threshold of its monthly budget.</summary>
public sealed record BudgetAlert(string Scope, string Period, int ThresholdPercent, decimal SpentUsd, decimal BudgetUsd);

/// <summary>An admitted call's reserved share of a budget, settled with its actual cost.</summary>
public sealed class BudgetHold
{
    internal BudgetHold(string scope, BudgetTracker.Entry entry, decimal amount, string? sharedId)
    {
        Scope = scope;
        Entry = entry;
        Amount = amount;
        SharedId = sharedId;
    }

    public string Scope { get; }

    public decimal Amount { get; }

    internal BudgetTracker.Entry Entry { get; }

    /// <summary>The reservation's id in Redis; null when it was made on this replica's own counters.</summary>
    internal string? SharedId { get; }
}

/// <summary>
/// Monthly spend per key and team (calendar month, UTC). Alone (no Redis), each replica loads the
/// month's spend from the ledger once and keeps it current from its own calls: exact on one node.
/// With Redis (<see cref="RedisBudgetBackend"/>), reservations and spend live in shared counters
/// that every replica reserves against and settles into atomically, seeded from the ledger and
/// raised to the ledger's sum on first use and every <c>reconcileInterval</c> (so a Redis flush or
/// restart forgets no spend); when Redis is unreachable, failOpen decides on this replica's own
/// counters and failClosed refuses with UNAVAILABLE, as for rate limits.
/// Alerts at 50, 80 and 100 % fire once per scope and month (deduplicated in the store, so across
/// restarts and replicas too).
/// </summary>
public sealed partial class BudgetTracker : IHostedService, IAsyncDisposable
{
    private static readonly int[] Thresholds = [50, 80, 100];

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly IGovernanceStore _store;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<BudgetTracker> _logger;
    private readonly RedisBudgetBackend? _shared;
    private readonly bool _failOpen;
    private readonly TimeSpan _reconcileInterval;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _reconcileLoop;
    private int _degraded;
    private int _stopped;

    public BudgetTracker(IGovernanceStore store, TimeProvider timeProvider, ILogger<BudgetTracker> logger)
        : this(store, timeProvider, logger, null, failOpen: true, TimeSpan.Zero)
    {
    }

    internal BudgetTracker(IGovernanceStore store, TimeProvider timeProvider, ILogger<BudgetTracker> logger, RedisBudgetBackend? shared, bool failOpen, TimeSpan reconcileInterval)
    {
        _store = store;
        _timeProvider = timeProvider;
        _logger = logger;
        _shared = shared;
        _failOpen = failOpen;
        _reconcileInterval = reconcileInterval;
    }

    /// <summary>Raised once per crossed threshold (log, metric, webhook subscribe here).</summary>
    public event Action<BudgetAlert>? AlertRaised;

    public string CurrentPeriod => _timeProvider.GetUtcNow().UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    /// <summary>True while budgets are decided on this replica's own counters because Redis is unreachable.</summary>
    public bool IsDegraded => Volatile.Read(ref _degraded) == 1;

    /// <summary>The month's spend: the shared counter when Redis holds one, else this replica's.</summary>
    public async ValueTask<decimal> GetSpentAsync(string scope, CancellationToken cancellationToken)
    {
        var entry = await GetEntryAsync(scope, cancellationToken).ConfigureAwait(false);
        if (_shared is not null)
        {
            try
            {
                if (await _shared.GetSpentAsync(scope, entry.Period, cancellationToken).ConfigureAwait(false) is { } nanos)
                {
                    return RedisBudgetBackend.FromNanos(nanos);
                }
            }
            catch (Exception ex) when (FailoverRateLimitBackend.IsUnreachable(ex))
            {
                Degraded(ex);
            }
        }

        lock (entry)
        {
            return entry.Spent;
        }
    }

    /// <summary>
    /// Admits a call against a budget: refused when the month's spend plus what calls in flight
    /// have reserved already reaches the budget; otherwise the call's estimated cost is reserved
    /// until <see cref="SettleAsync"/>. Concurrent calls therefore cross a budget by at most one
    /// call's cost, instead of every call in flight passing the same stale check; with Redis this
    /// holds across replicas.
    /// </summary>
    public async ValueTask<BudgetHold?> TryReserveAsync(string scope, decimal budget, decimal estimate, CancellationToken cancellationToken)
    {
        var entry = await GetEntryAsync(scope, cancellationToken).ConfigureAwait(false);
        estimate = Math.Max(estimate, 0m);
        if (_shared is not null)
        {
            try
            {
                var id = Guid.NewGuid().ToString("N");
                var budgetNanos = RedisBudgetBackend.ToNanos(budget);
                var amount = RedisBudgetBackend.ToNanos(estimate);
                var (outcome, _, _) = await _shared.TryReserveAsync(scope, entry.Period, budgetNanos, amount, id, cancellationToken).ConfigureAwait(false);
                if (outcome == SharedReserveOutcome.Unseeded)
                {
                    await SeedAsync(scope, entry.Period, cancellationToken).ConfigureAwait(false);
                    (outcome, _, _) = await _shared.TryReserveAsync(scope, entry.Period, budgetNanos, amount, id, cancellationToken).ConfigureAwait(false);
                }

                Recovered();
                return outcome == SharedReserveOutcome.Reserved ? new BudgetHold(scope, entry, estimate, id) : null;
            }
            catch (Exception ex) when (FailoverRateLimitBackend.IsUnreachable(ex))
            {
                Degraded(ex);
                if (!_failOpen)
                {
                    throw new RpcException(new Status(StatusCode.Unavailable, "Budgets cannot be checked: the shared store (Redis) is unreachable and rateLimits.failOpen is false."));
                }
            }
        }

        lock (entry)
        {
            if (entry.Spent + entry.Reserved >= budget)
            {
                return null;
            }

            entry.Reserved += estimate;
        }

        return new BudgetHold(scope, entry, estimate, null);
    }

    /// <summary>Returns a reservation without spending (the call was refused after it was admitted here).</summary>
    public async ValueTask ReleaseAsync(BudgetHold hold)
    {
        if (hold.SharedId is { } id)
        {
            try
            {
                await _shared!.SettleAsync(hold.Scope, hold.Entry.Period, id, 0, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (FailoverRateLimitBackend.IsUnreachable(ex))
            {
                // The reservation lapses by itself after its lifetime.
                Degraded(ex);
            }

            return;
        }

        lock (hold.Entry)
        {
            hold.Entry.Reserved = Math.Max(0m, hold.Entry.Reserved - hold.Amount);
        }
    }

    /// <summary>Replaces a call's reservation with its actual cost and raises the alerts it crosses.</summary>
    public ValueTask SettleAsync(BudgetHold hold, decimal cost, decimal? budget, CancellationToken cancellationToken)
        => AddAsync(hold.Entry, hold.Scope, cost, hold.SharedId is null ? hold.Amount : 0m, hold.SharedId, budget, cancellationToken);

    /// <summary>Adds a call's cost and raises the alerts it crosses.</summary>
    public async ValueTask AddAsync(string scope, decimal cost, decimal? budget, CancellationToken cancellationToken)
    {
        if (cost <= 0)
        {
            return;
        }

        var entry = await GetEntryAsync(scope, cancellationToken).ConfigureAwait(false);
        await AddAsync(entry, scope, cost, 0m, _shared is null ? null : "", budget, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Adds <paramref name="cost"/> to this replica's counter (minus its local reservation) and, when
    /// <paramref name="sharedId"/> is set ("" = no reservation), to the shared one. The alerts follow
    /// the shared counter when it answered (the cluster's spend), else this replica's.
    /// </summary>
    private async ValueTask AddAsync(Entry entry, string scope, decimal cost, decimal localReserved, string? sharedId, decimal? budget, CancellationToken cancellationToken)
    {
        cost = Math.Max(cost, 0m);
        decimal before, after;
        lock (entry)
        {
            entry.Reserved = Math.Max(0m, entry.Reserved - localReserved);
            before = entry.Spent;
            entry.Spent += cost;
            after = entry.Spent;
        }

        if (sharedId is not null && _shared is not null)
        {
            try
            {
                if (await _shared.SettleAsync(scope, entry.Period, sharedId, RedisBudgetBackend.ToNanos(cost), cancellationToken).ConfigureAwait(false) is { } shared)
                {
                    before = RedisBudgetBackend.FromNanos(shared.Before);
                    after = RedisBudgetBackend.FromNanos(shared.After);
                }
            }
            catch (Exception ex) when (FailoverRateLimitBackend.IsUnreachable(ex))
            {
                // Not lost: the ledger row carries the cost, and reconciliation raises the shared
                // counter to the ledger's sum once Redis is back; the reservation lapses by itself.
                Degraded(ex);
            }
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
                && await _store.TryRecordBudgetAlertAsync(scope, entry.Period, threshold, cancellationToken).ConfigureAwait(false))
            {
                var alert = new BudgetAlert(scope, entry.Period, threshold, after, limit);
                Log.BudgetAlert(_logger, scope, threshold, after, limit);
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

        var spent = await LedgerSpendAsync(scope, cancellationToken).ConfigureAwait(false);
        var fresh = new Entry(period) { Spent = spent };
        var current = _entries.AddOrUpdate(scope, fresh, (_, existing) => existing.Period == period ? existing : fresh);
        if (ReferenceEquals(current, fresh) && _shared is not null)
        {
            // First use of the scope on this replica: the shared counter is raised to the ledger's
            // sum now (Redis may have restarted from an older snapshot), not only at the next round.
            try
            {
                await _shared.ReconcileAsync(scope, period, RedisBudgetBackend.ToNanos(spent), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (FailoverRateLimitBackend.IsUnreachable(ex))
            {
                Degraded(ex);
            }
        }

        return current;
    }

    /// <summary>The scope's spend this month according to the store's ledger.</summary>
    private async Task<decimal> LedgerSpendAsync(string scope, CancellationToken cancellationToken)
    {
        var now = _timeProvider.GetUtcNow().UtcDateTime;
        var monthStart = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var (keyId, teamId) = ParseScope(scope);
        return await _store.GetSpendAsync(keyId, teamId, monthStart, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask SeedAsync(string scope, string period, CancellationToken cancellationToken)
    {
        var ledger = await LedgerSpendAsync(scope, cancellationToken).ConfigureAwait(false);
        var spent = await _shared!.ReconcileAsync(scope, period, RedisBudgetBackend.ToNanos(ledger), cancellationToken).ConfigureAwait(false);
        Log.Seeded(_logger, scope, period, RedisBudgetBackend.FromNanos(spent));
    }

    /// <summary>
    /// One reconciliation round: for every scope this replica has used this month, the shared
    /// counter is raised to the ledger's sum (seeded if Redis lost it) and so is this replica's own.
    /// Runs every <c>reconcileInterval</c>; tests call it directly.
    /// </summary>
    internal async Task ReconcileAsync(CancellationToken cancellationToken)
    {
        var period = CurrentPeriod;
        foreach (var (scope, entry) in _entries)
        {
            if (entry.Period != period)
            {
                _entries.TryRemove(KeyValuePair.Create(scope, entry));
                continue;
            }

            var ledger = await LedgerSpendAsync(scope, cancellationToken).ConfigureAwait(false);
            lock (entry)
            {
                entry.Spent = Math.Max(entry.Spent, ledger);
            }

            if (_shared is null)
            {
                continue;
            }

            try
            {
                await _shared.ReconcileAsync(scope, period, RedisBudgetBackend.ToNanos(ledger), cancellationToken).ConfigureAwait(false);
                Recovered();
            }
            catch (Exception ex) when (FailoverRateLimitBackend.IsUnreachable(ex))
            {
                Degraded(ex);
                return;
            }
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_shared is not null && _reconcileInterval > TimeSpan.Zero)
        {
            _reconcileLoop ??= Task.Run(ReconcileLoopAsync, CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Stopped by the host, then disposed by the container (possibly twice: as itself and as
        // the hosted service it is registered as): only the first stop does anything.
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_reconcileLoop is { } loop)
        {
            await loop.ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    private async Task ReconcileLoopAsync()
    {
        using var timer = new PeriodicTimer(_reconcileInterval, _timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    await ReconcileAsync(_stopping.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The store is down (a PostgreSQL restart): the next round tries again.
                    Log.ReconcileFailed(_logger, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Degraded(Exception ex)
    {
        if (Interlocked.Exchange(ref _degraded, 1) == 0)
        {
            Log.SharedBudgetsUnreachable(_logger, _failOpen ? "deciding on this replica's own counters" : "refusing calls with a budget (rateLimits.failOpen is false)", ex);
        }
    }

    private void Recovered()
    {
        if (Interlocked.Exchange(ref _degraded, 0) == 1)
        {
            Log.SharedBudgetsRestored(_logger);
        }
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

        [LoggerMessage(301, LogLevel.Information, "Shared budget counter {Scope} {Period} seeded from the ledger: {Spent} USD.", EventName = "BudgetSeeded")]
        public static partial void Seeded(ILogger logger, string scope, string period, decimal spent);

        [LoggerMessage(302, LogLevel.Error, "Redis is unreachable for shared budgets: {Decision} until it is back.", EventName = "SharedBudgetsUnreachable")]
        public static partial void SharedBudgetsUnreachable(ILogger logger, string decision, Exception exception);

        [LoggerMessage(303, LogLevel.Warning, "Redis is reachable again: shared budgets restored.", EventName = "SharedBudgetsRestored")]
        public static partial void SharedBudgetsRestored(ILogger logger);

        [LoggerMessage(304, LogLevel.Warning, "Budget reconciliation with the ledger failed; the next round tries again.", EventName = "BudgetReconcileFailed")]
        public static partial void ReconcileFailed(ILogger logger, Exception exception);
    }
}
