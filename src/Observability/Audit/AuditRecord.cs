using System.Text.Json.Nodes;

namespace Gateway.Grpc.Observability.Audit;

/// <summary>
/// One audit entry as stored. <see cref="Hash"/> is SHA-256 over <see cref="PreviousHash"/>
/// (hex, ASCII) followed by the entry's canonical JSON (<see cref="AuditChain.CanonicalEntry"/>),
/// so changing, removing or reordering any entry breaks every hash after it.
/// </summary>
/// <param name="Sequence">1-based, without gaps.</param>
/// <param name="Timestamp">UTC, <c>yyyy-MM-ddTHH:mm:ss.fffffffZ</c>, hashed as written.</param>
/// <param name="Action">What was done, e.g. <c>key.create</c>, <c>request.body</c>.</param>
/// <param name="Actor">Who did it (an admin, a key id); never a secret.</param>
/// <param name="Details">Canonical JSON object text (keys sorted), or <c>null</c>.</param>
public sealed record AuditRecord(long Sequence, string Timestamp, string Action, string Actor, string Details, string PreviousHash, string Hash);

/// <summary>The append-only audit trail of admin actions and (opt-in) request bodies.</summary>
public interface IAuditTrail
{
    /// <summary>False when no trail is configured; appends are then ignored.</summary>
    bool Enabled { get; }

    /// <summary>Appends an entry; durable (fsync'd) when the task completes.</summary>
    ValueTask<AuditRecord?> AppendAsync(string action, string actor, JsonObject? details, CancellationToken cancellationToken = default);
}

/// <summary>
/// Where audit records live. The JSON-lines file is the first; a ledger table (SQLite,
/// PostgreSQL) holding the same seven columns implements this too, and the chain and its
/// verification stay the same.
/// </summary>
public interface IAuditStore
{
    /// <summary>The newest record, or null for an empty trail. Throws <see cref="AuditTrailException"/> when the tail is unreadable.</summary>
    ValueTask<AuditRecord?> ReadLastAsync(CancellationToken cancellationToken);

    /// <summary>Stores a record durably before returning.</summary>
    ValueTask AppendAsync(AuditRecord record, CancellationToken cancellationToken);
}

/// <summary>The trail cannot be used as it is (unreadable tail, broken last entry, locked file).</summary>
public sealed class AuditTrailException : Exception
{
    public AuditTrailException()
    {
    }

    public AuditTrailException(string message)
        : base(message)
    {
    }

    public AuditTrailException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

internal sealed class NullAuditTrail : IAuditTrail
{
    public static readonly NullAuditTrail Instance = new();

    public bool Enabled => false;

    public ValueTask<AuditRecord?> AppendAsync(string action, string actor, JsonObject? details, CancellationToken cancellationToken = default) => ValueTask.FromResult<AuditRecord?>(null);
}
