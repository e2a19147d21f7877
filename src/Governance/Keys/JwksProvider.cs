using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Grpc.Governance.Keys;

/// <summary>One loaded JSON Web Key Set: its signing keys and their key ids.</summary>
public sealed class JwksSnapshot
{
    internal JwksSnapshot(IReadOnlyList<SecurityKey> keys, long fetchedAt)
    {
        Keys = keys;
        FetchedAt = fetchedAt;
        Kids = new HashSet<string>(keys.Select(k => k.KeyId).Where(k => !string.IsNullOrEmpty(k)), StringComparer.Ordinal);
    }

    public IReadOnlyList<SecurityKey> Keys { get; }

    public IReadOnlySet<string> Kids { get; }

    internal long FetchedAt { get; }

    /// <summary>Parses a JWKS document; throws <see cref="InvalidDataException"/> when it is not one or has no usable signing key.</summary>
    public static IReadOnlyList<SecurityKey> Parse(string json)
    {
        JsonWebKeySet set;
        try
        {
            set = new JsonWebKeySet(json);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException("not a JSON Web Key Set (" + ex.GetType().Name + ").", ex);
        }

        var keys = set.GetSigningKeys().ToArray();
        return keys.Length > 0 ? keys : throw new InvalidDataException("the key set has no usable signing key (RSA or EC public keys with use 'sig' or no use).");
    }
}

/// <summary>
/// The issuer's signing keys, from a file or a URL, cached. They are loaded on first use, again
/// in the background once older than <see cref="JwtSettings.RefreshInterval"/>, and at once when
/// a token names a key id the set lacks (key rotation) — at most once per
/// <see cref="JwtSettings.MinRefreshInterval"/>, so a stream of tokens with made-up key ids
/// cannot make the gateway hammer the identity provider. A failed fetch keeps the keys it had.
/// </summary>
public sealed partial class JwksProvider : IDisposable
{
    private readonly JwtSettings _settings;
    private readonly Func<HttpClient>? _http;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile JwksSnapshot? _current;
    private long? _lastAttempt;
    private int _backgroundRefresh;
    private int _fetches;

    public JwksProvider(JwtSettings settings, Func<HttpClient>? http, TimeProvider time, ILogger logger)
    {
        _settings = settings;
        _http = http;
        _time = time;
        _logger = logger;
        if (settings.JwksFilePath is null && http is null)
        {
            throw new ArgumentException("A JWKS URL needs an HttpClient factory.", nameof(http));
        }
    }

    /// <summary>How many times the key set was read (file or URL), successfully or not.</summary>
    public int Fetches => Volatile.Read(ref _fetches);

    /// <summary>
    /// The current keys; fetched first when there are none yet or when <paramref name="kid"/> is
    /// not among them (rate-limited). Null when no key set could be loaded at all.
    /// </summary>
    public async ValueTask<JwksSnapshot?> GetAsync(string? kid, CancellationToken cancellationToken)
    {
        var current = _current;
        if (current is null || (kid is not null && !current.Kids.Contains(kid)))
        {
            return await RefreshAsync(current, periodic: false, cancellationToken).ConfigureAwait(false);
        }

        if (_time.GetElapsedTime(current.FetchedAt) >= _settings.RefreshInterval && Interlocked.CompareExchange(ref _backgroundRefresh, 1, 0) == 0)
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await RefreshAsync(current, periodic: true, CancellationToken.None).ConfigureAwait(false);
                }
                finally
                {
                    Volatile.Write(ref _backgroundRefresh, 0);
                }
            }, CancellationToken.None);
        }

        return current;
    }

    private async Task<JwksSnapshot?> RefreshAsync(JwksSnapshot? seen, bool periodic, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Another caller fetched while this one waited: use what it got.
            if (!ReferenceEquals(_current, seen))
            {
                return _current;
            }

            if (!periodic && _lastAttempt is { } last && _time.GetElapsedTime(last) < _settings.MinRefreshInterval)
            {
                return _current;
            }

            _lastAttempt = _time.GetTimestamp();
            Interlocked.Increment(ref _fetches);
            try
            {
                var json = await ReadAsync(cancellationToken).ConfigureAwait(false);
                var snapshot = new JwksSnapshot(JwksSnapshot.Parse(json), _time.GetTimestamp());
                _current = snapshot;
                Log.Loaded(_logger, snapshot.Keys.Count, Source);
                return snapshot;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.LoadFailed(_logger, Source, _current is null ? "no keys are loaded, bearer JWTs are refused" : "the keys loaded before stay in use", ex);
                return _current;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private string Source => _settings.Jwks;

    private async Task<string> ReadAsync(CancellationToken cancellationToken)
    {
        if (_settings.JwksFilePath is { } path)
        {
            return await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_settings.FetchTimeout);
        using var response = await _http!().GetAsync(new Uri(_settings.Jwks), timeout.Token).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"JWKS endpoint answered HTTP {(int)response.StatusCode}.", null, response.StatusCode);
        }

        return await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
    }

    public void Dispose() => _gate.Dispose();

    private static partial class Log
    {
        [LoggerMessage(330, LogLevel.Information, "Loaded {Count} JWT signing key(s) from {Source}.", EventName = "JwksLoaded")]
        public static partial void Loaded(ILogger logger, int count, string source);

        [LoggerMessage(331, LogLevel.Warning, "Could not load the JWT signing keys from {Source}; {Consequence}.", EventName = "JwksLoadFailed")]
        public static partial void LoadFailed(ILogger logger, string source, string consequence, Exception exception);
    }
}
