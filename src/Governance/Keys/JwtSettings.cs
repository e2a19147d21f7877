namespace Gateway.Grpc.Governance.Keys;

/// <summary>How bearer JWTs are validated and mapped to a principal (built from <c>auth.jwt</c>).</summary>
public sealed class JwtSettings
{
    /// <summary>Asymmetric algorithms accepted by default. Symmetric (HS*) and unsigned (none) tokens never are.</summary>
    public static readonly IReadOnlyList<string> AsymmetricAlgorithms =
        ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

    /// <summary>The exact <c>iss</c> a token must carry.</summary>
    public required string Issuer { get; init; }

    /// <summary>Accepted <c>aud</c> values (a token must name at least one).</summary>
    public required IReadOnlyList<string> Audiences { get; init; }

    /// <summary>Where the signing keys are: <c>file:/path/jwks.json</c> or an http(s) URL serving a JWKS.</summary>
    public required string Jwks { get; init; }

    /// <summary>Claim holding the team id (the team must exist in the store); null = calls run without a team.</summary>
    public string? TeamClaim { get; init; }

    /// <summary>Claim holding the allowed models (JSON array or space-separated string); null = not read.</summary>
    public string? ModelsClaim { get; init; }

    /// <summary>Claim giving the caller's stable id, recorded as <c>jwt:&lt;value&gt;</c> in place of a key id.</summary>
    public string SubjectClaim { get; init; } = "sub";

    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Keys older than this are fetched again in the background (the old ones serve meanwhile).</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>A token naming an unknown <c>kid</c> makes the keys be fetched again at most once per this interval.</summary>
    public TimeSpan MinRefreshInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Accepted signing algorithms (<c>alg</c>).</summary>
    public IReadOnlyList<string> Algorithms { get; init; } = AsymmetricAlgorithms;

    /// <summary>A JWKS URL fetch gives up after this long.</summary>
    public TimeSpan FetchTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The file path of a <c>file:</c> JWKS source, or null for a URL.</summary>
    public string? JwksFilePath => Jwks.StartsWith("file:", StringComparison.Ordinal) ? Jwks["file:".Length..] : null;
}
