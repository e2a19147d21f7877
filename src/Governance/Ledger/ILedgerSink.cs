using Gateway.Grpc.Governance.Storage;

namespace Gateway.Grpc.Governance.Ledger;

/// <summary>Takes ledger rows off the request path (the ledger writer batches them to the store).</summary>
public interface ILedgerSink
{
    /// <summary>Queues a row; never blocks on I/O and never drops a row.</summary>
    void Enqueue(LedgerEntry entry);
}
