namespace Gateway.Grpc.Caching.Configuration;

/// <summary>
/// The response cache (configuration section <c>cache:</c>). Off unless <see cref="Enabled"/>.
/// Settings resolve most specific first: key, then team, then model group, then these defaults.
/// </summary>
public sealed class CacheOptions
{
    /// <summary>Serve repeated requests from the cache. Default off.</summary>
    public bool Enabled { get; set; }

    /// <summary><c>memory</c> (this process, LRU bounded by <see cref="MaxBytes"/>) or <c>redis</c> (shared by every replica).</summary>
    public string Backend { get; set; } = "memory";

    /// <summary>
    /// Who shares answers: <c>team</c> (every key of a team; a key without a team is its own
    /// partition), <c>key</c> (each key alone) or <c>global</c> (every caller; only for a gateway
    /// whose tenants may see each other's answers). Default team.
    /// </summary>
    public string Partition { get; set; } = "team";

    /// <summary>How long an answer is kept, in seconds, unless the model group or the request says otherwise. Default 3600.</summary>
    public int TtlSeconds { get; set; } = 3600;

    /// <summary>The largest TTL a request may ask for with <c>cache: ttl=N</c>. Default 86400 (one day).</summary>
    public int MaxTtlSeconds { get; set; } = 86_400;

    /// <summary>Memory backend: total bytes of cached answers before the least recently used go. Default 64 MiB.</summary>
    public long MaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>An answer larger than this (serialized) is not cached. Default 1 MiB.</summary>
    public int MaxEntryBytes { get; set; } = 1024 * 1024;

    /// <summary>Cache requests that set temperature above 0 (their answers vary by design). Default false.</summary>
    public bool CacheNonZeroTemperature { get; set; }

    public SemanticCacheOptions Semantic { get; set; } = new();

    public CacheRedisOptions Redis { get; set; } = new();

    /// <summary>Per model group (by public name): overrides of the defaults above.</summary>
    public Dictionary<string, ModelCacheOptions> Models { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Per team id: on/off and the semantic threshold.</summary>
    public Dictionary<string, TenantCacheOptions> Teams { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Per key id: on/off and the semantic threshold (wins over the key's team).</summary>
    public Dictionary<string, TenantCacheOptions> Keys { get; set; } = new(StringComparer.Ordinal);
}

public sealed class SemanticCacheOptions
{
    /// <summary>Also serve prompts close in meaning to a cached one. Default off (needs <c>cache.enabled</c>).</summary>
    public bool Enabled { get; set; }

    /// <summary>Cosine similarity at or above which a cached answer is served. Default 0.95.</summary>
    public double Threshold { get; set; } = 0.95;

    /// <summary>Vectors kept in each replica's in-memory index (384 floats, ~1.6 KB each); the oldest go first. Default 20000.</summary>
    public int MaxEntries { get; set; } = 20_000;

    /// <summary>
    /// The embedder: <c>minilm</c> (all-MiniLM-L6-v2, local, CPU; the default) or <c>model:NAME</c>
    /// (a configured model group whose deployments serve embeddings, e.g. text-embedding-3-small).
    /// </summary>
    public string Embedder { get; set; } = "minilm";
}

public sealed class CacheRedisOptions
{
    public string Endpoint { get; set; } = "127.0.0.1:6379";

    /// <summary>Password as a secret reference (env:NAME or file:/path).</summary>
    public string? Password { get; set; }

    public string? User { get; set; }

    public int Database { get; set; }

    /// <summary>A cache read or write waits at most this long; a slow or absent Redis is a miss, never a failed call.</summary>
    public int CommandTimeoutMs { get; set; } = 250;
}

public sealed class ModelCacheOptions
{
    public bool? Enabled { get; set; }

    public int? TtlSeconds { get; set; }

    public bool? Semantic { get; set; }

    public double? SemanticThreshold { get; set; }

    public bool? CacheNonZeroTemperature { get; set; }
}

public sealed class TenantCacheOptions
{
    public bool? Enabled { get; set; }

    public bool? Semantic { get; set; }

    public double? SemanticThreshold { get; set; }
}
