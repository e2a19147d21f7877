using Gateway.Grpc.Governance.Storage;

namespace Gateway.Grpc.Governance.Keys;

/// <summary>
/// Who is calling: a virtual key (and its team), a bearer JWT (mapped to a team and a subject),
/// the admin master key, or nobody (open dev mode).
/// </summary>
public sealed record Principal
{
    public static readonly Principal Anonymous = new() { Kind = PrincipalKind.Anonymous };

    public static readonly Principal Admin = new() { Kind = PrincipalKind.Admin };

    /// <summary>The key metadata entry that makes a virtual key admin-scoped (<c>scope: admin</c>).</summary>
    public const string ScopeMetadataKey = "scope";

    public const string AdminScope = "admin";

    public PrincipalKind Kind { get; init; }

    public KeyRecord? Key { get; init; }

    public TeamRecord? Team { get; init; }

    /// <summary>A JWT caller's stable id (<c>jwt:&lt;sub&gt;</c>); stands in for the key id in the ledger and logs.</summary>
    public string? SubjectId { get; init; }

    /// <summary>Models a JWT's models claim allows; null = the claim was absent (no restriction beyond the team's).</summary>
    public IReadOnlyList<string>? TokenModels { get; init; }

    public string? KeyId => Key?.Id ?? SubjectId;

    public string? TeamId => Key is { } key ? key.TeamId : Team?.Id;

    /// <summary>Whether prompt/completion text may be logged for this caller (tenant opt-in).</summary>
    public bool LogBodies => Team?.LogBodies ?? false;

    /// <summary>The master key, or a virtual key whose metadata says <c>scope: admin</c>: may use the admin API and the console.</summary>
    public bool IsAdmin => Kind == PrincipalKind.Admin || (Kind == PrincipalKind.VirtualKey && Key is { } key && HasAdminScope(key));

    /// <summary>Whether a stored key is admin-scoped (set only through the admin API, so only an admin can make one).</summary>
    public static bool HasAdminScope(KeyRecord key)
        => key.Metadata.TryGetValue(ScopeMetadataKey, out var scope) && string.Equals(scope, AdminScope, StringComparison.Ordinal);

    public bool IsModelAllowed(string model)
    {
        if (TokenModels is { } tokenModels && !tokenModels.Contains(model, StringComparer.Ordinal))
        {
            return false;
        }

        if (Key is { AllowedModels.Count: > 0 } key && !key.AllowedModels.Contains(model, StringComparer.Ordinal))
        {
            return false;
        }

        return Team is not { AllowedModels.Count: > 0 } team || team.AllowedModels.Contains(model, StringComparer.Ordinal);
    }
}

public enum PrincipalKind
{
    Anonymous,
    VirtualKey,
    Admin,

    /// <summary>A bearer JWT validated against the configured issuer's keys.</summary>
    Jwt,
}
