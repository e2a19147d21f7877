using System.Collections.Concurrent;
using System.Globalization;
using Gateway.Grpc.Governance.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Grpc.Governance.Keys;

/// <summary>The outcome of checking a bearer JWT: a principal, or why not (never the token itself).</summary>
public readonly record struct JwtAuthResult(Principal? Principal, string? Error, bool KeysUnavailable = false);

/// <summary>
/// Validates bearer JWTs (signature against the issuer's JWKS, issuer, audience, exp/nbf with a
/// small clock skew, accepted algorithms) with Microsoft.IdentityModel, then maps their claims to a
/// principal: the team claim to a team of the store, the models claim to an allow-list, the
/// subject to a stable id (<c>jwt:&lt;sub&gt;</c>) the ledger and the access log record as the key id.
/// </summary>
public sealed partial class JwtAuthenticator : IDisposable
{
    public const string SubjectPrefix = "jwt:";
    private static readonly TimeSpan TeamCacheTtl = TimeSpan.FromSeconds(1);

    private readonly JwtSettings _settings;
    private readonly IGovernanceStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly JsonWebTokenHandler _handler = new();
    private readonly HashSet<string> _algorithms;
    private readonly ConcurrentDictionary<string, (TeamRecord? Team, long FetchedAt)> _teams = new(StringComparer.Ordinal);

    public JwtAuthenticator(JwtSettings settings, IGovernanceStore store, Func<HttpClient>? http, TimeProvider time, ILogger<JwtAuthenticator> logger)
    {
        _settings = settings;
        _store = store;
        _time = time;
        _logger = logger;
        _algorithms = new HashSet<string>(settings.Algorithms, StringComparer.Ordinal);
        Keys = new JwksProvider(settings, http, time, logger);
    }

    public JwksProvider Keys { get; }

    /// <summary>
    /// Whether a presented credential has the shape of a JWS compact token: three base64url
    /// segments (header.payload.signature; the signature may be empty, as in an unsigned token,
    /// so that one is refused as such rather than as an unknown key). Virtual keys never match.
    /// </summary>
    public static bool LooksLikeJwt(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return false;
        }

        var dots = 0;
        var segmentLength = 0;
        foreach (var c in value)
        {
            if (c == '.')
            {
                if (segmentLength == 0 || ++dots > 2)
                {
                    return false;
                }

                segmentLength = 0;
            }
            else if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            {
                segmentLength++;
            }
            else
            {
                return false;
            }
        }

        return dots == 2;
    }

    public async ValueTask<JwtAuthResult> AuthenticateAsync(string token, CancellationToken cancellationToken)
    {
        JsonWebToken parsed;
        try
        {
            parsed = _handler.ReadJsonWebToken(token);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityTokenException)
        {
            return Refuse("the token is malformed (not a JWS compact token with a JSON header and payload).");
        }

        var algorithm = parsed.Alg;
        if (string.IsNullOrEmpty(algorithm) || string.Equals(algorithm, "none", StringComparison.OrdinalIgnoreCase))
        {
            return Refuse("unsigned tokens (alg 'none') are not accepted.");
        }

        if (!_algorithms.Contains(algorithm))
        {
            return Refuse($"signing algorithm '{Printable(algorithm)}' is not accepted (accepted: {string.Join(", ", _settings.Algorithms)}).");
        }

        var kid = string.IsNullOrEmpty(parsed.Kid) ? null : parsed.Kid;
        var keys = await Keys.GetAsync(kid, cancellationToken).ConfigureAwait(false);
        if (keys is null)
        {
            Log.Refused(_logger, "signing keys unavailable");
            return new JwtAuthResult(null, "the issuer's signing keys could not be loaded; try again shortly.", KeysUnavailable: true);
        }

        if (kid is not null && !keys.Kids.Contains(kid))
        {
            return Refuse($"unknown signing key (kid '{Printable(kid)}' is not in the issuer's key set).");
        }

        var result = await _handler.ValidateTokenAsync(parsed, Parameters(keys, tryAllKeys: kid is null)).ConfigureAwait(false);
        if (!result.IsValid)
        {
            return Refuse(Describe(result.Exception));
        }

        var validated = (JsonWebToken)result.SecurityToken;
        return await MapAsync(validated, cancellationToken).ConfigureAwait(false);
    }

    private TokenValidationParameters Parameters(JwksSnapshot keys, bool tryAllKeys) => new()
    {
        ValidIssuer = _settings.Issuer,
        ValidAudiences = _settings.Audiences,
        IssuerSigningKeys = keys.Keys,
        ValidAlgorithms = _settings.Algorithms,
        TryAllIssuerSigningKeys = tryAllKeys,
        ClockSkew = _settings.ClockSkew,
        RequireExpirationTime = true,
        RequireSignedTokens = true,
        RequireAudience = true,
        ValidateIssuer = true,
        ValidateAudience = true,
        ValidateLifetime = true,
        LogValidationExceptions = false,
    };

    private string Describe(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException expired => $"the token expired at {expired.Expires.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}.",
        SecurityTokenNotYetValidException notYet => $"the token is not valid before {notYet.NotBefore.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}.",
        SecurityTokenNoExpirationException => "the token has no expiry ('exp' claim).",
        SecurityTokenInvalidLifetimeException => "the token's lifetime is invalid ('nbf' after 'exp').",
        SecurityTokenInvalidAudienceException => $"wrong audience: the token's 'aud' must include {Quoted(_settings.Audiences)}.",
        SecurityTokenInvalidIssuerException => $"wrong issuer: the token's 'iss' must be '{_settings.Issuer}'.",
        SecurityTokenSignatureKeyNotFoundException => "unknown signing key (no key of the issuer's key set matches the token).",
        SecurityTokenInvalidAlgorithmException => "the token's signing algorithm is not accepted.",
        SecurityTokenInvalidSignatureException => "bad signature: the token was not signed by the issuer's key.",
        SecurityTokenMalformedException => "the token is malformed.",
        _ => "the token is not valid.",
    };

    private async ValueTask<JwtAuthResult> MapAsync(JsonWebToken token, CancellationToken cancellationToken)
    {
        string? subjectId = null;
        var subjects = ClaimValues(token, _settings.SubjectClaim);
        if (subjects.Count > 0)
        {
            subjectId = SubjectPrefix + subjects[0];
        }

        IReadOnlyList<string>? models = null;
        if (_settings.ModelsClaim is { } modelsClaim && token.TryGetPayloadValue<object>(modelsClaim, out _))
        {
            // Present but empty means "no model": the issuer said so explicitly.
            models = ClaimValues(token, modelsClaim)
                .SelectMany(static v => v.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .Distinct(StringComparer.Ordinal)
                .ToArray();
        }

        TeamRecord? team = null;
        if (_settings.TeamClaim is { } teamClaim)
        {
            var teams = ClaimValues(token, teamClaim);
            if (teams.Count == 0)
            {
                return Refuse($"the token has no '{teamClaim}' claim naming the caller's team.");
            }

            if (teams.Count > 1)
            {
                return Refuse($"the token's '{teamClaim}' claim names {teams.Count} teams; it must name exactly one.");
            }

            team = await GetTeamAsync(teams[0], cancellationToken).ConfigureAwait(false);
            if (team is null)
            {
                return Refuse($"the token's team '{Printable(teams[0])}' (claim '{teamClaim}') is not a team of this gateway.");
            }
        }

        return new JwtAuthResult(new Principal { Kind = PrincipalKind.Jwt, Team = team, SubjectId = subjectId, TokenModels = models }, null);
    }

    /// <summary>A claim's values: each element of an array claim, or the one value of a scalar claim; empty strings dropped.</summary>
    private static List<string> ClaimValues(JsonWebToken token, string claim)
        => token.Claims.Where(c => c.Type == claim && !string.IsNullOrWhiteSpace(c.Value)).Select(static c => c.Value.Trim()).ToList();

    private async ValueTask<TeamRecord?> GetTeamAsync(string id, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        if (_teams.TryGetValue(id, out var cached) && _time.GetElapsedTime(cached.FetchedAt, now) < TeamCacheTtl)
        {
            return cached.Team;
        }

        var team = await _store.GetTeamAsync(id, cancellationToken).ConfigureAwait(false);
        if (_teams.Count > 10_000)
        {
            _teams.Clear();
        }

        _teams[id] = (team, now);
        return team;
    }

    private JwtAuthResult Refuse(string reason)
    {
        Log.Refused(_logger, reason);
        return new JwtAuthResult(null, reason);
    }

    private static string Quoted(IReadOnlyList<string> values) => string.Join(" or ", values.Select(static v => "'" + v + "'"));

    /// <summary>A header or claim value fit to quote in an error: short printable ASCII, else a placeholder.</summary>
    private static string Printable(string value)
        => value.Length <= 64 && value.All(static c => c is >= ' ' and <= '~' && c != '\'') ? value : "(unprintable)";

    public void Dispose() => Keys.Dispose();

    private static partial class Log
    {
        [LoggerMessage(332, LogLevel.Information, "Bearer JWT refused: {Reason}", EventName = "JwtRefused")]
        public static partial void Refused(ILogger logger, string reason);
    }
}
