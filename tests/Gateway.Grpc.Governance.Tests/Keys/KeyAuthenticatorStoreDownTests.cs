using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Governance.Tests.Infrastructure;

namespace Gateway.Grpc.Governance.Tests.Keys;

/// <summary>A store outage (PostgreSQL restarting) does not lock out callers this replica has already seen.</summary>
public sealed class KeyAuthenticatorStoreDownTests
{
    [Fact]
    public async Task StoreDown_KnownKeyServedFromItsLastLookup_UnknownKeyFails_RevocationSeenOnceStoreIsBack()
    {
        var inner = new InMemoryGovernanceStore();
        var store = new FlakyStore(inner, FlakyStore.Mode.FailBeforeWriting, failures: 0);
        var (secret, prefix, hash) = ApiKeys.Generate();
        await inner.CreateKeyAsync(new KeyRecord { Id = "key_known", Prefix = prefix, Hash = hash }, CancellationToken.None);
        // A zero TTL: every call goes to the store, so only the outage path can answer from memory.
        var auth = new KeyAuthenticator(store, TimeProvider.System, static () => null) { CacheTtl = TimeSpan.Zero };
        Assert.NotNull((await auth.AuthenticateAsync(secret, CancellationToken.None)).Principal);

        store.FailKeyLookups = true;
        Assert.Equal("key_known", (await auth.AuthenticateAsync(secret, CancellationToken.None)).Principal?.KeyId);
        var (unknown, _, _) = ApiKeys.Generate();
        await Assert.ThrowsAsync<TimeoutException>(async () => await auth.AuthenticateAsync(unknown, CancellationToken.None));

        // Back: the next lookup reads the store again (a revocation made meanwhile applies at once).
        var key = await inner.GetKeyAsync("key_known", CancellationToken.None);
        await inner.UpdateKeyAsync(key! with { RevokedAt = DateTimeOffset.UtcNow }, CancellationToken.None);
        store.FailKeyLookups = false;
        Assert.Equal(AuthFailure.Revoked, (await auth.AuthenticateAsync(secret, CancellationToken.None)).Failure);
    }
}
