using System.Collections.Concurrent;
using Gateway.Grpc.Governance.Storage;

namespace Gateway.Grpc.Governance.Keys;

public enum AuthFailure
{
    None,
    Missing,
    Invalid,
    Revoked,
    Expired,
}

/// <summary>
/// Resolves a presented key to a principal. Lookups are cached for at most
/// <see cref="CacheTtl"/>, so a revocation or update made on any replica takes effect everywhere
/// within that time (1 s by default) without a shared cache. With Redis, a change also reaches the
/// other replicas at once through <see cref="KeyInvalidationChannel"/> (the TTL is the backstop for
/// a message lost while Redis was unreachable).
/// </summary>
public sealed class KeyAuthenticator(IGovernanceStore store, TimeProvider timeProvider, Func<string?> masterKey)
{
    private readonly ConcurrentDictionary<string, (Principal? Principal, AuthFailure Failure, long FetchedAt)> _cache = new(StringComparer.Ordinal);

    public TimeSpan CacheTtl { get; init; } = TimeSpan.FromSeconds(1);

    public async ValueTask<(Principal? Principal, AuthFailure Failure)> AuthenticateAsync(string? presented, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(presented))
        {
            return (null, AuthFailure.Missing);
        }

        var hash = ApiKeys.Hash(presented);
        if (masterKey() is { Length: > 0 } master && ApiKeys.HashEquals(hash, ApiKeys.Hash(master)))
        {
            return (Principal.Admin, AuthFailure.None);
        }

        var now = timeProvider.GetTimestamp();
        var known = _cache.TryGetValue(hash, out var cached);
        if (known && timeProvider.GetElapsedTime(cached.FetchedAt, now) < CacheTtl)
        {
            return Check(cached.Principal, cached.Failure);
        }

        Principal? principal;
        AuthFailure failure;
        try
        {
            (principal, failure) = await LoadAsync(presented, hash, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (known && ex is not OperationCanceledException)
        {
            // The store cannot answer (a PostgreSQL restart): keys this replica has seen keep working
            // on their last lookup, refreshed as soon as the store answers. No revocation can be
            // written while the store is down either. Keys never seen here still fail.
            return Check(cached.Principal, cached.Failure);
        }

        if (_cache.Count > 100_000)
        {
            _cache.Clear();
        }

        _cache[hash] = (principal, failure, now);
        return Check(principal, failure);
    }

    /// <summary>Drops cached lookups at once after a change (revoke, rotate, update): here, and on the other replicas when they share Redis.</summary>
    public void Invalidate()
    {
        _cache.Clear();
        Broadcast?.Invoke();
    }

    /// <summary>Drops this replica's cached lookups (another replica changed a key).</summary>
    internal void InvalidateLocal() => _cache.Clear();

    /// <summary>Tells the other replicas to drop theirs; set by <see cref="KeyInvalidationChannel"/>.</summary>
    internal Action? Broadcast { get; set; }

    private (Principal?, AuthFailure) Check(Principal? principal, AuthFailure failure)
    {
        if (principal?.Key is { } key)
        {
            // Expiry is checked on every call, not only at load time.
            if (key.RevokedAt is not null)
            {
                return (null, AuthFailure.Revoked);
            }

            if (key.ExpiresAt is { } expires && expires <= timeProvider.GetUtcNow())
            {
                return (null, AuthFailure.Expired);
            }
        }

        return (principal, failure);
    }

    private async Task<(Principal?, AuthFailure)> LoadAsync(string presented, string hash, CancellationToken cancellationToken)
    {
        var prefix = ApiKeys.PrefixOf(presented);
        if (prefix is null)
        {
            return (null, AuthFailure.Invalid);
        }

        foreach (var key in await store.FindKeysByPrefixAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (ApiKeys.HashEquals(key.Hash, hash))
            {
                var team = key.TeamId is null ? null : await store.GetTeamAsync(key.TeamId, cancellationToken).ConfigureAwait(false);
                return (new Principal { Kind = PrincipalKind.VirtualKey, Key = key, Team = team }, AuthFailure.None);
            }
        }

        return (null, AuthFailure.Invalid);
    }
}
