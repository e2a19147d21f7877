using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Gateway.Grpc.Console.Configuration;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Governance.Storage;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Console.Internal;

/// <summary>A signed-in console user. The cookie holds <c>Id</c>; the store keys sessions by its hash.</summary>
internal sealed class ConsoleSession
{
    public required string CsrfToken { get; init; }

    /// <summary>"master", an admin-scoped key's id, or "open-dev-mode".</summary>
    public required string Who { get; init; }

    /// <summary>The admin-scoped key the session stands on; re-checked on every request (revoked = signed out).</summary>
    public string? KeyId { get; init; }

    /// <summary>SHA-256 of the master key at sign-in: a changed master key ends the session.</summary>
    public string? MasterKeyHash { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    private long _lastSeenTicks;

    /// <summary>UTC time of the last request; read and written from concurrent requests, so kept as atomic ticks.</summary>
    public DateTimeOffset LastSeen
    {
        get => new(Volatile.Read(ref _lastSeenTicks), TimeSpan.Zero);
        set => Volatile.Write(ref _lastSeenTicks, value.UtcTicks);
    }
}

/// <summary>
/// Console sessions, in memory (a restart signs everyone out; several replicas need sticky
/// sessions). A session ends after <see cref="ConsoleOptions.SessionIdleMinutes"/> without a
/// request, <see cref="ConsoleOptions.SessionMaxHours"/> after sign-in, at sign-out, or as soon
/// as the credential it was opened with stops being an admin's (key revoked, expired or no longer
/// admin-scoped; master key changed).
/// </summary>
internal sealed class ConsoleSessions(ConsoleOptions options, GovernanceService governance, IGovernanceStore store, TimeProvider timeProvider)
{
    public const string CookieName = "gw_console";
    public const string CookiePath = "/ui";
    public const string CsrfHeader = "X-Console-Csrf";

    /// <summary>Header every state-changing console request carries; a cross-site form cannot send it.</summary>
    public const string RequestedWithHeader = "X-Requested-With";
    public const string RequestedWithValue = "gateway-console";

    private const int MaxSessions = 10_000;
    private readonly ConcurrentDictionary<string, ConsoleSession> _sessions = new(StringComparer.Ordinal);

    public int Count => _sessions.Count;

    /// <summary>Opens a session and returns the cookie value (shown to nobody but this browser).</summary>
    public (string CookieValue, ConsoleSession Session) Open(string who, string? keyId, string? masterKeyHash)
    {
        var now = timeProvider.GetUtcNow();
        if (_sessions.Count >= MaxSessions)
        {
            Sweep(now);
            if (_sessions.Count >= MaxSessions)
            {
                // Bounded memory: the oldest session gives way.
                var oldest = _sessions.MinBy(static s => s.Value.LastSeen);
                _sessions.TryRemove(oldest.Key, out _);
            }
        }

        var cookie = NewToken();
        var session = new ConsoleSession { CsrfToken = NewToken(), Who = who, KeyId = keyId, MasterKeyHash = masterKeyHash, CreatedAt = now, LastSeen = now };
        _sessions[Hash(cookie)] = session;
        return (cookie, session);
    }

    public void Close(HttpContext context)
    {
        if (context.Request.Cookies.TryGetValue(CookieName, out var cookie) && !string.IsNullOrEmpty(cookie))
        {
            _sessions.TryRemove(Hash(cookie), out _);
        }
    }

    /// <summary>The request's live session, or null (no cookie, unknown, expired, or its credential no longer an admin's).</summary>
    public async ValueTask<ConsoleSession?> ResolveAsync(HttpContext context)
    {
        if (!context.Request.Cookies.TryGetValue(CookieName, out var cookie) || string.IsNullOrEmpty(cookie) || cookie.Length > 100)
        {
            return null;
        }

        var id = Hash(cookie);
        if (!_sessions.TryGetValue(id, out var session))
        {
            return null;
        }

        var now = timeProvider.GetUtcNow();
        if (Expired(session, now) || !await StillAdminAsync(session, context.RequestAborted).ConfigureAwait(false))
        {
            _sessions.TryRemove(id, out _);
            return null;
        }

        session.LastSeen = now;
        return session;
    }

    public static bool CsrfMatches(ConsoleSession session, string? presented)
        => presented is { Length: > 0 } && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(session.CsrfToken), Encoding.ASCII.GetBytes(presented));

    public static string? MasterKeyHash(GovernanceService governance)
        => governance.Settings.MasterKey() is { Length: > 0 } master ? ApiKeys.Hash(master) : null;

    private async ValueTask<bool> StillAdminAsync(ConsoleSession session, CancellationToken cancellationToken)
    {
        var currentMaster = MasterKeyHash(governance);
        if (session.KeyId is { } keyId)
        {
            var key = await store.GetKeyAsync(keyId, cancellationToken).ConfigureAwait(false);
            return currentMaster is not null && key is not null && key.RevokedAt is null
                && (key.ExpiresAt is not { } expires || expires > timeProvider.GetUtcNow()) && Principal.HasAdminScope(key);
        }

        if (session.MasterKeyHash is { } masterHash)
        {
            return currentMaster is not null && ApiKeys.HashEquals(masterHash, currentMaster);
        }

        // An open-dev-mode session lasts only while the gateway stays open (no master key).
        return currentMaster is null && !governance.Settings.RequireKeys;
    }

    private bool Expired(ConsoleSession session, DateTimeOffset now)
        => now - session.LastSeen > TimeSpan.FromMinutes(options.SessionIdleMinutes) || now - session.CreatedAt > TimeSpan.FromHours(options.SessionMaxHours);

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (id, session) in _sessions)
        {
            if (Expired(session, now))
            {
                _sessions.TryRemove(id, out _);
            }
        }
    }

    private static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
