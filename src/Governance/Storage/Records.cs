namespace Gateway.Grpc.Governance.Storage;

/// <summary>Limits that apply to a key or a team. Null = no limit.</summary>
public sealed record LimitSettings
{
    public int? RequestsPerMinute { get; init; }

    public int? TokensPerMinute { get; init; }

    public int? MaxConcurrentRequests { get; init; }

    public int? MaxTokensPerRequest { get; init; }

    /// <summary>Rate-limit algorithm for RPM/TPM: "gcra" (token bucket) or "sliding-window"; null = the gateway default.</summary>
    public string? Algorithm { get; init; }

    /// <summary>Monthly budget in US dollars (calendar month, UTC).</summary>
    public decimal? MonthlyBudgetUsd { get; init; }
}

/// <summary>A team: a group of keys sharing limits and a budget.</summary>
public sealed record TeamRecord
{
    public required string Id { get; init; }

    public required string Name { get; init; }

    /// <summary>Models the team's keys may use; empty = all.</summary>
    public IReadOnlyList<string> AllowedModels { get; init; } = [];

    public LimitSettings Limits { get; init; } = new();

    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>Tenant opted in to logging prompt and completion text.</summary>
    public bool LogBodies { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>
/// A virtual key. The secret itself is never stored: only <see cref="Hash"/> (SHA-256 of the
/// whole key, hex) and a short <see cref="Prefix"/> used to find the row.
/// </summary>
public sealed record KeyRecord
{
    public required string Id { get; init; }

    /// <summary>The first characters of the key (e.g. "gw-AbCd1234"), shown in listings and used for lookup.</summary>
    public required string Prefix { get; init; }

    public required string Hash { get; init; }

    public string? TeamId { get; init; }

    public string Name { get; init; } = "";

    /// <summary>Models this key may use; empty = all (or the team's list).</summary>
    public IReadOnlyList<string> AllowedModels { get; init; } = [];

    public LimitSettings Limits { get; init; } = new();

    public DateTimeOffset? ExpiresAt { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }
}

/// <summary>
/// One row of the spend ledger: one gateway call. A value: queued rows sit in the writer's
/// channel and batch, so a call's row costs no allocation of its own.
/// </summary>
public readonly record struct LedgerEntry
{
    public LedgerEntry()
    {
    }

    /// <summary>The call's request id (unique; a second write of the same id is ignored).</summary>
    public required string RequestId { get; init; }

    public DateTimeOffset Timestamp { get; init; }

    public string? KeyId { get; init; }

    public string? TeamId { get; init; }

    /// <summary>The public model name requested.</summary>
    public string Model { get; init; } = "";

    /// <summary>The deployment that served the call ("" when none did).</summary>
    public string Deployment { get; init; } = "";

    public string Provider { get; init; } = "";

    /// <summary>"grpc" or "rest".</summary>
    public string Route { get; init; } = "";

    public bool Stream { get; init; }

    public long InputTokens { get; init; }

    public long OutputTokens { get; init; }

    public long CachedInputTokens { get; init; }

    /// <summary>Cost of the whole call, abandoned hedges and failed attempts included.</summary>
    public decimal CostUsd { get; init; }

    /// <summary>Part of <see cref="CostUsd"/> spent on attempts whose answer was not used.</summary>
    public decimal AbandonedCostUsd { get; init; }

    public long LatencyMs { get; init; }

    public long? TimeToFirstTokenMs { get; init; }

    /// <summary>gRPC status code name, e.g. "OK", "UNAVAILABLE".</summary>
    public string Status { get; init; } = "OK";

    /// <summary>Usage was counted by the gateway because the provider did not report it.</summary>
    public bool Estimated { get; init; }

    public int Attempts { get; init; }

    /// <summary>"hit_exact" or "hit_semantic" when the response cache answered (cost 0); "" otherwise.</summary>
    public string Cache { get; init; } = "";

    /// <summary>For a cache hit: the cost the cached answer had when it was made, not spent again.</summary>
    public decimal SavedCostUsd { get; init; }
}

public enum UsageGrouping
{
    Key,
    Team,
    Model,
    Day,

    /// <summary>The deployment that served the call ("" for calls no deployment served).</summary>
    Deployment,
}

/// <summary>A usage query: a time range, optional filters, and the grouping dimensions.</summary>
public sealed record UsageQuery
{
    public DateTimeOffset From { get; init; }

    public DateTimeOffset To { get; init; }

    public string? KeyId { get; init; }

    public string? TeamId { get; init; }

    public string? Model { get; init; }

    public IReadOnlyList<UsageGrouping> GroupBy { get; init; } = [];
}

/// <summary>One aggregated usage row; grouping columns not asked for are null.</summary>
public sealed record UsageRow
{
    public string? KeyId { get; init; }

    public string? TeamId { get; init; }

    public string? Model { get; init; }

    /// <summary>UTC day, yyyy-MM-dd.</summary>
    public string? Day { get; init; }

    public string? Deployment { get; init; }

    public long Requests { get; init; }

    /// <summary>Calls that ended with status OK.</summary>
    public long SuccessfulRequests { get; init; }

    public long InputTokens { get; init; }

    public long OutputTokens { get; init; }

    public decimal CostUsd { get; init; }

    /// <summary>Calls the response cache answered (included in <see cref="Requests"/>).</summary>
    public long CacheHits { get; init; }

    /// <summary>Sum of the ledger's <c>saved_cost_usd</c>: what the cache saved.</summary>
    public decimal SavedCostUsd { get; init; }
}
