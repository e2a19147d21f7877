using System.Collections.Concurrent;

namespace Gateway.Grpc.Governance.Limits;

/// <summary>In-process counters: exact for one node; with several replicas use Redis.</summary>
public sealed class LocalRateLimitBackend(TimeProvider timeProvider) : IRateLimitBackend
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private const int Seconds = 60;

    private readonly ConcurrentDictionary<string, State> _states = new(StringComparer.Ordinal);

    public string Name => "local";

    public ValueTask<LimitResult> TryAcquireAsync(LimitRequest request, CancellationToken cancellationToken)
    {
        var state = _states.GetOrAdd(request.Key, static _ => new State());
        var now = timeProvider.GetUtcNow().UtcTicks;
        lock (state)
        {
            return ValueTask.FromResult(request.Kind switch
            {
                LimitKind.Concurrency => AcquireLease(state, request),
                _ when request.Algorithm == LimitAlgorithm.Gcra => Gcra(state, request, now),
                _ => Sliding(state, request, now),
            });
        }
    }

    public ValueTask AdjustTokensAsync(string key, long limit, LimitAlgorithm algorithm, long reservation, long delta, CancellationToken cancellationToken)
    {
        if (delta == 0 || !_states.TryGetValue(key, out var state))
        {
            return ValueTask.CompletedTask;
        }

        var now = timeProvider.GetUtcNow().UtcTicks;
        lock (state)
        {
            if (algorithm == LimitAlgorithm.Gcra)
            {
                var interval = Window.Ticks / (double)limit;
                state.Tat = Math.Max(now, state.Tat + (long)(delta * interval));
            }
            else
            {
                var slot = (int)(reservation % Seconds);
                if (state.Stamps[slot] == reservation)
                {
                    state.Counts[slot] = Math.Max(0, state.Counts[slot] + delta);
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask ReleaseAsync(string key, string leaseId, CancellationToken cancellationToken)
    {
        if (_states.TryGetValue(key, out var state))
        {
            lock (state)
            {
                state.Leases.Remove(leaseId);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>GCRA: the theoretical arrival time advances by amount × (window / limit); refuse when it runs more than a window ahead.</summary>
    private static LimitResult Gcra(State state, LimitRequest request, long now)
    {
        var interval = Window.Ticks / (double)request.Limit;
        var tat = Math.Max(state.Tat, now);
        var newTat = tat + (long)(request.Amount * interval);
        if (newTat - now > Window.Ticks)
        {
            var retry = TimeSpan.FromTicks(newTat - now - Window.Ticks);
            return new LimitResult(false, Remaining(tat, now, interval), retry, TimeSpan.FromTicks(tat - now), 0);
        }

        state.Tat = newTat;
        return new LimitResult(true, Remaining(newTat, now, interval), TimeSpan.Zero, TimeSpan.FromTicks(newTat - now), 0);
    }

    private static long Remaining(long tat, long now, double interval) => Math.Max(0, (long)((Window.Ticks - (tat - now)) / interval));

    private static LimitResult Sliding(State state, LimitRequest request, long now)
    {
        var second = now / TimeSpan.TicksPerSecond;
        long used = 0;
        long oldest = second;
        for (var i = 0; i < Seconds; i++)
        {
            if (second - state.Stamps[i] < Seconds && state.Counts[i] > 0)
            {
                used += state.Counts[i];
                oldest = Math.Min(oldest, state.Stamps[i]);
            }
        }

        var reset = TimeSpan.FromSeconds(oldest + Seconds - second);
        if (used + request.Amount > request.Limit)
        {
            return new LimitResult(false, Math.Max(0, request.Limit - used), reset, reset, 0);
        }

        var slot = (int)(second % Seconds);
        if (state.Stamps[slot] != second)
        {
            state.Stamps[slot] = second;
            state.Counts[slot] = 0;
        }

        state.Counts[slot] += request.Amount;
        return new LimitResult(true, request.Limit - used - request.Amount, TimeSpan.Zero, reset, second);
    }

    private static LimitResult AcquireLease(State state, LimitRequest request)
    {
        if (state.Leases.Count >= request.Limit)
        {
            return new LimitResult(false, 0, TimeSpan.FromSeconds(1), TimeSpan.Zero, 0);
        }

        state.Leases.Add(request.LeaseId);
        return new LimitResult(true, request.Limit - state.Leases.Count, TimeSpan.Zero, TimeSpan.Zero, 0);
    }

    private sealed class State
    {
        public long Tat;
        public readonly long[] Counts = new long[Seconds];
        public readonly long[] Stamps = new long[Seconds];
        public readonly HashSet<string> Leases = new(StringComparer.Ordinal);
    }
}
