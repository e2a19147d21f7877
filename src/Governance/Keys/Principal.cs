using Gateway.Grpc.Governance.Storage;

namespace Gateway.Grpc.Governance.Keys;

/// <summary>Who is calling: a virtual key (and its team), the admin master key, or nobody (open dev mode).</summary>
public sealed record Principal
{
    public static readonly Principal Anonymous = new() { Kind = PrincipalKind.Anonymous };

    public static readonly Principal Admin = new() { Kind = PrincipalKind.Admin };

    public PrincipalKind Kind { get; init; }

    public KeyRecord? Key { get; init; }

    public TeamRecord? Team { get; init; }

    public string? KeyId => Key?.Id;

    public string? TeamId => Key?.TeamId;

    /// <summary>Whether prompt/completion text may be logged for this caller (tenant opt-in).</summary>
    public bool LogBodies => Team?.LogBodies ?? false;

    public bool IsModelAllowed(string model)
    {
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
}
