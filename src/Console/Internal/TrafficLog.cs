using Gateway.Grpc.Console.Configuration;
using Gateway.Grpc.Observability.AccessLog;

namespace Gateway.Grpc.Console.Internal;

/// <summary>One finished call as the live tail shows it: metadata only, never prompt or answer text.</summary>
internal sealed record TrafficEntry(
    long Seq,
    DateTimeOffset Timestamp,
    string RequestId,
    string Route,
    bool Stream,
    string? KeyId,
    string? Team,
    string Model,
    string? Deployment,
    string? Provider,
    string Status,
    string? ErrorKind,
    int Attempts,
    string? AttemptTrail,
    double LatencyMs,
    double? TimeToFirstTokenMs,
    int InputTokens,
    int OutputTokens,
    double CostUsd,
    bool CacheHit,
    bool Fallback,
    bool Hedged,
    string? Guardrails);

/// <summary>
/// The recent calls (a ring of <see cref="ConsoleOptions.TailSize"/>) and the error classes per
/// minute over the last hour, fed by <see cref="TrafficTap"/> when calls end.
/// </summary>
internal sealed class TrafficLog(ConsoleOptions options, TimeProvider timeProvider)
{
    private const int Minutes = 60;
    private readonly Lock _lock = new();
    // The finished calls' access-log entries themselves (the tail's rows are made when the
    // console reads them, not per call); an entry with captured bodies is held without them.
    // Entries are held in place (values); a slot whose Seq is 0 was never written (seqs start at 1).
    private readonly (long Seq, AccessLogEntry Entry)[] _ring = new (long, AccessLogEntry)[Math.Max(10, options.TailSize)];
    private readonly Dictionary<long, Dictionary<string, int>> _errorsByMinute = [];
    private long _seq;

    public void Add(in AccessLogEntry e)
    {
        var minute = e.Timestamp.ToUnixTimeSeconds() / 60;
        var kind = e.Status == "OK" ? null : (string.IsNullOrEmpty(e.ErrorKind) ? e.Status.ToLowerInvariant() : e.ErrorKind);
        // Prompt and Completion of the access-log entry are deliberately not kept.
        var kept = e.WithoutBodies();
        lock (_lock)
        {
            var seq = ++_seq;
            _ring[seq % _ring.Length] = (seq, kept);
            if (kind is not null)
            {
                if (!_errorsByMinute.TryGetValue(minute, out var kinds))
                {
                    _errorsByMinute[minute] = kinds = new Dictionary<string, int>(StringComparer.Ordinal);
                    DropMinutesBefore_NeedsLock(minute - Minutes + 1);
                }

                kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
            }
        }
    }

    // Its own method: a lambda capturing the entry's minute inside Add would make a closure on every call.
    private void DropMinutesBefore_NeedsLock(long first)
    {
        foreach (var old in _errorsByMinute.Keys.Where(m => m < first).ToList())
        {
            _errorsByMinute.Remove(old);
        }
    }

    /// <summary>Calls after <paramref name="afterSeq"/>, newest first, at most <paramref name="limit"/>.</summary>
    public (List<TrafficEntry> Entries, long LastSeq) Since(long afterSeq, int limit)
    {
        var result = new List<TrafficEntry>();
        lock (_lock)
        {
            for (var seq = _seq; seq > afterSeq && seq > _seq - _ring.Length && result.Count < limit; seq--)
            {
                ref readonly var slot = ref _ring[seq % _ring.Length];
                if (slot.Seq == seq)
                {
                    ref readonly var e = ref slot.Entry;
                    result.Add(new TrafficEntry(
                        seq, e.Timestamp, e.RequestId, e.Route, e.Stream, e.KeyId, e.Team, e.Model, e.Deployment, e.Provider,
                        e.Status, e.ErrorKind, e.Attempts, e.AttemptTrail, Math.Round(e.LatencyMs, 1),
                        e.TimeToFirstTokenMs is { } ttft ? Math.Round(ttft, 1) : null,
                        e.InputTokens, e.OutputTokens, e.CostUsd, e.CacheHit, e.Fallback, e.Hedged, e.GuardrailTriggered));
                }
            }

            return (result, _seq);
        }
    }

    /// <summary>Error classes per minute over the last hour: minute labels (UTC HH:mm) and a series per class.</summary>
    public (List<string> Minutes, Dictionary<string, int[]> Series) ErrorsOverTime()
    {
        var now = timeProvider.GetUtcNow().ToUnixTimeSeconds() / 60;
        var labels = new List<string>(Minutes);
        var series = new Dictionary<string, int[]>(StringComparer.Ordinal);
        lock (_lock)
        {
            for (var i = 0; i < Minutes; i++)
            {
                var minute = now - Minutes + 1 + i;
                labels.Add(DateTimeOffset.FromUnixTimeSeconds(minute * 60).UtcDateTime.ToString("HH:mm", System.Globalization.CultureInfo.InvariantCulture));
                if (_errorsByMinute.TryGetValue(minute, out var kinds))
                {
                    foreach (var (kind, count) in kinds)
                    {
                        if (!series.TryGetValue(kind, out var counts))
                        {
                            series[kind] = counts = new int[Minutes];
                        }

                        counts[i] = count;
                    }
                }
            }
        }

        return (labels, series);
    }
}

/// <summary>
/// Wraps the access log: every finished call also goes to the <see cref="TrafficLog"/>, so the
/// live tail sees calls whether or not access-log lines are written. Lines still go to the real
/// access log only when it is on.
/// </summary>
internal sealed class TrafficTap(IAccessLog inner, TrafficLog traffic) : IAccessLog, IAsyncDisposable
{
    public bool Enabled => true;

    public void Write(in AccessLogEntry entry)
    {
        traffic.Add(entry);
        if (inner.Enabled)
        {
            inner.Write(entry);
        }
    }

    public Task FlushAsync() => inner.FlushAsync();

    public ValueTask DisposeAsync() => inner switch
    {
        IAsyncDisposable asyncDisposable => asyncDisposable.DisposeAsync(),
        IDisposable disposable => Dispose(disposable),
        _ => ValueTask.CompletedTask,
    };

    private static ValueTask Dispose(IDisposable disposable)
    {
        disposable.Dispose();
        return ValueTask.CompletedTask;
    }
}
