namespace Gateway.Grpc.Simulator;

/// <summary>A scripted fault still waiting in the queue and how many more requests it applies to.</summary>
public sealed record PendingFault(FaultScript Script, int Remaining);

/// <summary>
/// The simulator's shared state: the request log, the scripted-fault queue, the global defaults
/// and the deterministic fault counter. One per app (<c>app.Services.GetRequiredService&lt;SimulatorState&gt;()</c>);
/// the admin API (<c>/_sim/*</c>) is a thin layer over it. Thread-safe.
/// </summary>
public sealed class SimulatorState
{
    private readonly Lock _gate = new();
    private readonly Queue<RequestRecord> _log = new();
    private readonly Dictionary<long, RequestRecord> _index = [];
    private readonly Dictionary<long, Waiter> _waiters = [];
    private readonly List<FaultEntry> _faults = [];
    private readonly TimeProvider _timeProvider;
    private readonly int _maxRecords;
    private long _lastId;
    private long _generationCount;
    private SimulatorDefaults _defaults;

    internal SimulatorState(SimulatorOptions options, TimeProvider timeProvider)
    {
        _defaults = SimulatorDefaults.From(options);
        _timeProvider = timeProvider;
        _maxRecords = options.MaxRecordedRequests;
    }

    /// <summary>Pacing, natural length and global fault rate for requests that do not override them.</summary>
    public SimulatorDefaults Defaults
    {
        get => Volatile.Read(ref _defaults);
        set => Volatile.Write(ref _defaults, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>The id the next request will get minus one (0 before the first request).</summary>
    public long LastRequestId => Interlocked.Read(ref _lastId);

    /// <summary>A snapshot of the recorded requests, oldest first.</summary>
    public IReadOnlyList<RequestRecord> Requests
    {
        get
        {
            lock (_gate)
            {
                return _log.ToArray();
            }
        }
    }

    public RequestRecord? GetRequest(long id)
    {
        lock (_gate)
        {
            return _index.GetValueOrDefault(id);
        }
    }

    /// <summary>Forgets the recorded requests (ids keep counting up; the fault counter is not reset).</summary>
    public void ClearRequests()
    {
        lock (_gate)
        {
            _log.Clear();
            _index.Clear();
        }
    }

    /// <summary>Queues a scripted fault; matching requests consume it in queue order.</summary>
    public void EnqueueFault(FaultScript script)
    {
        ArgumentNullException.ThrowIfNull(script);
        var errors = Faults.FaultValidation.Validate(script);
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid fault script: " + string.Join(" ", errors), nameof(script));
        }

        lock (_gate)
        {
            _faults.Add(new FaultEntry(script, script.Count));
        }
    }

    public IReadOnlyList<PendingFault> PendingFaults
    {
        get
        {
            lock (_gate)
            {
                var result = new PendingFault[_faults.Count];
                for (var i = 0; i < _faults.Count; i++)
                {
                    result[i] = new PendingFault(_faults[i].Script, _faults[i].Remaining);
                }

                return result;
            }
        }
    }

    public void ClearFaults()
    {
        lock (_gate)
        {
            _faults.Clear();
        }
    }

    /// <summary>Completes when request <paramref name="id"/> has arrived (at once if it already has).</summary>
    public Task<RequestRecord> WaitForStartAsync(long id, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_index.TryGetValue(id, out var record))
            {
                return Task.FromResult(record);
            }

            if (id <= _lastId)
            {
                return Task.FromException<RequestRecord>(new InvalidOperationException($"Request {id} is not in the log (it was cleared or not recorded)."));
            }

            return GetWaiter(id).Started.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Completes when the simulator has finished with request <paramref name="id"/>, however it ended.</summary>
    public Task<RequestRecord> WaitForEndAsync(long id, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_index.TryGetValue(id, out var record) && record.Completed)
            {
                return Task.FromResult(record);
            }

            if (id <= _lastId && record is null && !_waiters.ContainsKey(id))
            {
                return Task.FromException<RequestRecord>(new InvalidOperationException($"Request {id} is not in the log (it was cleared or not recorded)."));
            }

            return GetWaiter(id).Ended.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Completes when request <paramref name="id"/> ended because the client went away; throws
    /// <see cref="InvalidOperationException"/> when it ended any other way.
    /// </summary>
    public async Task<RequestRecord> WaitForAbortAsync(long id, CancellationToken cancellationToken = default)
    {
        var record = await WaitForEndAsync(id, cancellationToken).ConfigureAwait(false);
        return record.Aborted
            ? record
            : throw new InvalidOperationException($"Request {id} ended without being aborted by the client: {record}.");
    }

    internal DateTimeOffset Now => _timeProvider.GetUtcNow();

    internal RequestRecord Begin(string api, string method, string path, IReadOnlyDictionary<string, string> headers)
    {
        var id = Interlocked.Increment(ref _lastId);
        var record = new RequestRecord(id, api, method, path, headers, _timeProvider.GetUtcNow());
        lock (_gate)
        {
            if (_maxRecords > 0)
            {
                _log.Enqueue(record);
                _index[id] = record;
                while (_log.Count > _maxRecords)
                {
                    _index.Remove(_log.Dequeue().Id);
                }
            }

            if (_waiters.TryGetValue(id, out var waiter))
            {
                waiter.Started.TrySetResult(record);
            }
        }

        return record;
    }

    internal void End(RequestRecord record, int? status, int? grpcStatus, bool aborted)
    {
        record.End(_timeProvider.GetUtcNow(), status, grpcStatus, aborted);
        lock (_gate)
        {
            if (_waiters.Remove(record.Id, out var waiter))
            {
                waiter.Started.TrySetResult(record);
                waiter.Ended.TrySetResult(record);
            }
        }
    }

    /// <summary>Takes one use of the first queued script matching the request.</summary>
    internal FaultScript? TakeScriptedFault(string api, string? model)
    {
        lock (_gate)
        {
            for (var i = 0; i < _faults.Count; i++)
            {
                var entry = _faults[i];
                if (!entry.Script.Matches(api, model))
                {
                    continue;
                }

                entry.Remaining--;
                if (entry.Remaining <= 0)
                {
                    _faults.RemoveAt(i);
                }

                return entry.Script;
            }
        }

        return null;
    }

    /// <summary>
    /// Counts a generation request and says whether the global fault rate fails it: request n
    /// fails when floor(n*rate) &gt; floor((n-1)*rate), an exact, reproducible fraction.
    /// </summary>
    internal bool NextIsGlobalFault(SimulatorDefaults defaults)
    {
        var n = Interlocked.Increment(ref _generationCount);
        var rate = defaults.FaultRate;
        if (rate <= 0)
        {
            return false;
        }

        return Math.Floor((n * rate) + 1e-9) > Math.Floor(((n - 1) * rate) + 1e-9);
    }

    private Waiter GetWaiter(long id)
    {
        if (!_waiters.TryGetValue(id, out var waiter))
        {
            waiter = new Waiter();
            _waiters[id] = waiter;
        }

        return waiter;
    }

    private sealed class Waiter
    {
        public TaskCompletionSource<RequestRecord> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<RequestRecord> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class FaultEntry(FaultScript script, int remaining)
    {
        public FaultScript Script { get; } = script;

        public int Remaining { get; set; } = remaining;
    }
}
