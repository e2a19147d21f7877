using System.Threading.Channels;
using Gateway.Grpc.Governance.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Governance.Ledger;

/// <summary>
/// Writes ledger rows in batches off the request path. Rows are queued in memory (never
/// dropped: a slow store grows the backlog, reported by <see cref="Backlog"/>), written in
/// batches with retries on store errors, and drained on graceful shutdown. A caller may wait for
/// its row's commit (<see cref="EnqueueAsync"/>): a batch holding such a row is written at once
/// instead of being topped up for the flush interval, so waiting costs one store round trip
/// (rows that arrive meanwhile share the next one). A batch is gathered by waiting out the flush
/// interval once, not by waking for each row: a busy gateway pays one timer per batch, not a
/// waiter and a thread-pool hop per call.
/// </summary>
public sealed partial class LedgerWriter : ILedgerSink, IHostedService, IAsyncDisposable
{
    private readonly Channel<Queued> _queue = Channel.CreateUnbounded<Queued>(new UnboundedChannelOptions { SingleReader = true });
    private readonly IGovernanceStore _store;
    private readonly ILogger<LedgerWriter> _logger;
    private readonly int _batchSize;
    private readonly TimeSpan _flushInterval;
    private Task? _loop;
    private long _backlog;
    private long _written;
    private bool _failing;
    private bool _stopping;

    /// <summary>Completed to end the current batch's top-up early: a row whose caller waits for its commit, or shutdown.</summary>
    private TaskCompletionSource _topUpEnd = NewSignal();

    public LedgerWriter(IGovernanceStore store, ILogger<LedgerWriter> logger, int batchSize = 500, TimeSpan? flushInterval = null)
    {
        _store = store;
        _logger = logger;
        _batchSize = batchSize;
        _flushInterval = flushInterval ?? TimeSpan.FromMilliseconds(200);
    }

    /// <summary>Rows queued and not yet written.</summary>
    public long Backlog => Interlocked.Read(ref _backlog);

    /// <summary>True while the last write to the store failed and its batch is being retried.</summary>
    public bool Failing => Volatile.Read(ref _failing);

    /// <summary>Rows written since start.</summary>
    public long Written => Interlocked.Read(ref _written);

    public void Enqueue(LedgerEntry entry) => Enqueue(new Queued(entry, null));

    public async ValueTask EnqueueAsync(LedgerEntry entry, TimeSpan commitWait)
    {
        // While the store is failing the row just queues: the call is not held up by an outage.
        if (commitWait <= TimeSpan.Zero || Failing)
        {
            Enqueue(new Queued(entry, null));
            return;
        }

        var committed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Enqueue(new Queued(entry, committed));
        Volatile.Read(ref _topUpEnd).TrySetResult();
        try
        {
            await committed.Task.WaitAsync(commitWait).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Still queued, and written when the store answers.
        }
    }

    private void Enqueue(Queued queued)
    {
        Interlocked.Increment(ref _backlog);

        if (!_queue.Writer.TryWrite(queued))
        {
            // Only after shutdown: write it directly rather than lose it.
            _store.AppendLedgerAsync([queued.Entry], CancellationToken.None).GetAwaiter().GetResult();
            MarkWritten(1);
            queued.Committed?.TrySetResult();
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop ??= Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Waits until everything queued so far is in the store.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        while (Backlog > 0)
        {
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Set before the completion (whose lock is a fence) and the signal read below.
        Volatile.Write(ref _stopping, true);
        _queue.Writer.TryComplete();
        Volatile.Read(ref _topUpEnd).TrySetResult();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    private async Task RunAsync()
    {
        var batch = new List<LedgerEntry>(_batchSize);
        var waiters = new List<TaskCompletionSource>();
        var reader = _queue.Reader;
        // No token on this wait: the channel then reuses one waiter, and an idle writer costs nothing per row.
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // A spent signal is replaced before the drain, so a waited row queued after the drain
            // (or StopAsync after the check below) always finds the signal this loop is about to
            // wait on. The exchange is a full fence: the replacement is visible before the drain
            // and the stopping check read.
            if (Volatile.Read(ref _topUpEnd).Task.IsCompleted && !Volatile.Read(ref _stopping))
            {
                Interlocked.Exchange(ref _topUpEnd, NewSignal());
            }

            Drain(reader, batch, waiters);
            if (batch.Count < _batchSize && waiters.Count == 0 && !Volatile.Read(ref _stopping))
            {
                // Top the batch up for the flush interval. Rows that arrive meanwhile just queue
                // (nothing wakes this loop for each of them); a row whose caller waits for its
                // commit, or shutdown, ends the top-up at once.
                await Task.WhenAny(Volatile.Read(ref _topUpEnd).Task, Task.Delay(_flushInterval)).ConfigureAwait(false);
                Drain(reader, batch, waiters);
            }

            await WriteWithRetryAsync(batch, waiters).ConfigureAwait(false);
            batch.Clear();
            waiters.Clear();
        }
    }

    private void Drain(ChannelReader<Queued> reader, List<LedgerEntry> batch, List<TaskCompletionSource> waiters)
    {
        while (batch.Count < _batchSize && reader.TryRead(out var queued))
        {
            batch.Add(queued.Entry);
            if (queued.Committed is { } committed)
            {
                waiters.Add(committed);
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task WriteWithRetryAsync(List<LedgerEntry> batch, List<TaskCompletionSource> waiters)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                await _store.AppendLedgerAsync(batch, CancellationToken.None).ConfigureAwait(false);
                MarkWritten(batch.Count);
                Volatile.Write(ref _failing, false);
                Release(waiters);
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Keep the batch and try again: a row is never dropped. Callers waiting for it stop
                // waiting now: the store is failing, and their rows stay queued like everyone's.
                Volatile.Write(ref _failing, true);
                Release(waiters);
                Log.WriteFailed(_logger, batch.Count, Backlog, ex);
                await Task.Delay(delay).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
            }
        }
    }

    private static void Release(List<TaskCompletionSource> waiters)
    {
        foreach (var waiter in waiters)
        {
            waiter.TrySetResult();
        }

        waiters.Clear();
    }

    private void MarkWritten(int count)
    {
        Interlocked.Add(ref _written, count);
        Interlocked.Add(ref _backlog, -count);
    }

    /// <summary>A queued row, and the caller waiting for its commit (if one does).</summary>
    private readonly record struct Queued(LedgerEntry Entry, TaskCompletionSource? Committed);

    private static partial class Log
    {
        [LoggerMessage(320, LogLevel.Warning, "Writing {Count} ledger rows failed ({Backlog} queued); retrying.", EventName = "LedgerWriteFailed")]
        public static partial void WriteFailed(ILogger logger, int count, long backlog, Exception exception);
    }
}
