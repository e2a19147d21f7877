using System.Globalization;
using System.Text.Json.Nodes;

namespace Gateway.Grpc.Observability.Audit;

/// <summary>Chains entries over any <see cref="IAuditStore"/>: one append at a time, each hashed onto the last.</summary>
public sealed class AuditTrail : IAuditTrail, IDisposable
{
    private readonly IAuditStore _store;
    private readonly TimeProvider _timeProvider;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private bool _loaded;
    private bool _closed;
    private long _lastSequence;
    private string _lastHash = AuditChain.GenesisHash;
    private readonly byte[]? _key;

    /// <param name="key">The HMAC key (audit.hmacKey): entries are then keyed (<see cref="AuditChain.KeyedPrefix"/>).</param>
    public AuditTrail(IAuditStore store, TimeProvider timeProvider, byte[]? key = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _store = store;
        _timeProvider = timeProvider;
        _key = key;
    }

    /// <summary>The newest entry's sequence and hash (0 and the genesis hash for an empty trail), for publishing.</summary>
    public (long Sequence, string Hash) Head => (Volatile.Read(ref _lastSequence), Volatile.Read(ref _lastHash));

    public bool Enabled => true;

    /// <summary>Reads the tail and checks the last entry's own hash; appending onto a broken tail is refused.</summary>
    public async ValueTask OpenAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await LoadAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask<AuditRecord?> AppendAsync(string action, string actor, JsonObject? details, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(action);
        ArgumentNullException.ThrowIfNull(actor);
        var detailsText = AuditChain.CanonicalDetails(details?.ToJsonString() ?? "null");
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            await LoadAsync(cancellationToken).ConfigureAwait(false);
            var sequence = _lastSequence + 1;
            var timestamp = _timeProvider.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
            var hash = AuditChain.ComputeHash(_lastHash, sequence, timestamp, action, actor, detailsText, _key);
            var record = new AuditRecord(sequence, timestamp, action, actor, detailsText, _lastHash, hash);
            await _store.AppendAsync(record, cancellationToken).ConfigureAwait(false);
            _lastSequence = sequence;
            _lastHash = hash;
            return record;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async ValueTask LoadAsync(CancellationToken cancellationToken)
    {
        if (_loaded)
        {
            return;
        }

        if (await _store.ReadLastAsync(cancellationToken).ConfigureAwait(false) is { } last)
        {
            var keyed = AuditChain.IsKeyed(last.Hash);
            if (keyed && _key is null)
            {
                throw new AuditTrailException($"The audit trail is keyed (HMAC) but no key is configured: set audit:hmacKey to the trail's key reference before appending.");
            }

            var computed = AuditChain.ComputeHash(last.PreviousHash, last.Sequence, last.Timestamp, last.Action, last.Actor, last.Details, keyed ? _key : null);
            if (!string.Equals(computed, last.Hash, StringComparison.Ordinal))
            {
                throw new AuditTrailException($"The last audit entry (seq {last.Sequence}) does not match its hash; the trail was modified. Run 'audit verify' before appending.");
            }

            _lastSequence = last.Sequence;
            _lastHash = last.Hash;
        }

        _loaded = true;
    }

    /// <summary>Waits for the append in progress, then closes the store; later appends fail.</summary>
    public void Dispose()
    {
        _gate.Wait();
        try
        {
            if (!_closed)
            {
                _closed = true;
                (_store as IDisposable)?.Dispose();
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}
