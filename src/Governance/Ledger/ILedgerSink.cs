using Gateway.Grpc.Governance.Storage;

namespace Gateway.Grpc.Governance.Ledger;

/// <summary>Takes ledger rows off the request path (the ledger writer batches them to the store).</summary>
public interface ILedgerSink
{
    /// <summary>Queues a row; never blocks on I/O and never drops a row.</summary>
    void Enqueue(LedgerEntry entry);

    /// <summary>
    /// Queues a row and waits up to <paramref name="commitWait"/> for it to be in the store (a zero
    /// wait only queues it). Never throws for the store: a row not written in time, or while the
    /// store fails, stays queued and the wait ends.
    /// </summary>
    ValueTask EnqueueAsync(LedgerEntry entry, TimeSpan commitWait)
    {
        Enqueue(entry);
        return ValueTask.CompletedTask;
    }
}
