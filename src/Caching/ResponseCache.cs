using Gateway.Grpc.Caching.Configuration;
using Gateway.Grpc.Caching.Exact;
using Gateway.Grpc.Caching.Keys;
using Gateway.Grpc.Caching.Semantic;
using Gateway.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using RpcException = global::Grpc.Core.RpcException;
using Status = global::Grpc.Core.Status;
using StatusCode = global::Grpc.Core.StatusCode;

namespace Gateway.Grpc.Caching;

/// <summary>What the cache will do for one call, decided once before it is looked up.</summary>
internal sealed class CachePlan
{
    public static readonly CachePlan Off = new() { Status = CacheStatus.Unspecified };

    /// <summary>Unspecified: caching is off for this model (nothing reported). Bypass: reported, not used. Miss: used.</summary>
    public CacheStatus Status { get; init; }

    public bool Lookup { get; init; }

    public bool Store { get; init; }

    public string Model { get; init; } = "";

    public string ExactKey { get; init; } = "";

    public TimeSpan Ttl { get; init; }

    public bool Semantic { get; init; }

    public double Threshold { get; init; }

    public string Bucket { get; init; } = "";

    public string Prompt { get; init; } = "";

    /// <summary>The prompt's vector, once computed (lookup), reused when the answer is stored.</summary>
    internal float[]? Vector { get; set; }

    public bool Active => Lookup || Store;
}

/// <summary>A cached answer served for a call.</summary>
internal sealed record CacheHit(CompletionResponse Response, CacheStatus Status, double Similarity, long AgeSeconds);

/// <summary>
/// The response cache the completion pipeline calls: plan (settings, key, partition), look up
/// (exact, then semantic), store. Failures of the store are misses, never failed calls.
/// </summary>
internal sealed partial class ResponseCache : IAsyncDisposable
{
    private readonly CacheOptions _options;
    private readonly IExactCacheStore _store;
    private readonly ITextEmbedder? _embedder;
    private readonly VectorIndex? _index;
    private readonly ISemanticSync? _sync;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;

    public ResponseCache(CacheOptions options, IExactCacheStore store, ITextEmbedder? embedder, VectorIndex? index, ISemanticSync? sync, TimeProvider timeProvider, CacheMetrics metrics, ILogger<ResponseCache> logger)
    {
        _options = options;
        _store = store;
        _embedder = embedder;
        _index = index;
        _sync = sync;
        _timeProvider = timeProvider;
        Metrics = metrics;
        metrics.ObserveSizes(store as MemoryExactCache, index);
        _logger = logger;
        _ = _sync?.StartAsync();
    }

    public CacheMetrics Metrics { get; }

    public bool Enabled => _options.Enabled;

    internal IExactCacheStore Store => _store;

    internal VectorIndex? Index => _index;

    /// <summary>Reads the <c>cache</c> header; a value it does not understand is INVALID_ARGUMENT naming the fix.</summary>
    public CacheDirective ParseDirective(string? header)
    {
        if (!_options.Enabled || string.IsNullOrEmpty(header))
        {
            return CacheDirective.None;
        }

        return CacheDirective.TryParse(header, _options.MaxTtlSeconds, out var directive, out var error)
            ? directive
            : throw new RpcException(new Status(StatusCode.InvalidArgument, error!));
    }

    /// <summary>Decides what the cache does for this call: settings by key, team, model group; the directive; temperature.</summary>
    public CachePlan Plan(CompletionRequest request, string modelGroup, string? keyId, string? teamId, CacheDirective directive)
    {
        if (!_options.Enabled)
        {
            return CachePlan.Off;
        }

        _options.Models.TryGetValue(modelGroup, out var model);
        if (model?.Enabled == false)
        {
            return CachePlan.Off;
        }

        var key = keyId is null ? null : _options.Keys.GetValueOrDefault(keyId);
        var team = teamId is null ? null : _options.Teams.GetValueOrDefault(teamId);
        var tenantEnabled = key?.Enabled ?? team?.Enabled ?? true;
        var temperatureOk = !request.HasTemperature || request.Temperature <= 0 || (model?.CacheNonZeroTemperature ?? _options.CacheNonZeroTemperature);
        if (!tenantEnabled || !temperatureOk || (directive.NoCache && directive.NoStore))
        {
            return new CachePlan { Status = CacheStatus.Bypass, Model = modelGroup };
        }

        var partition = _options.Partition switch
        {
            "global" => "global",
            "key" => keyId is null ? "anonymous" : "key:" + keyId,
            _ => teamId is not null ? "team:" + teamId : keyId is not null ? "key:" + keyId : "anonymous",
        };
        var semantic = _embedder is not null && _index is not null && (key?.Semantic ?? team?.Semantic ?? model?.Semantic ?? true);
        var prompt = "";
        var bucket = "";
        if (semantic)
        {
            var lastUser = RequestFingerprint.LastUserText(request, out prompt);
            semantic = lastUser >= 0;
            if (semantic)
            {
                bucket = RequestFingerprint.SemanticBucket(partition, modelGroup, request, lastUser);
            }
        }

        var ttlSeconds = directive.TtlSeconds ?? model?.TtlSeconds ?? _options.TtlSeconds;
        return new CachePlan
        {
            Status = directive.NoCache ? CacheStatus.Bypass : CacheStatus.Miss,
            Lookup = !directive.NoCache,
            Store = !directive.NoStore,
            Model = modelGroup,
            ExactKey = RequestFingerprint.ExactKey(partition, modelGroup, request),
            Ttl = TimeSpan.FromSeconds(ttlSeconds),
            Semantic = semantic,
            Threshold = key?.SemanticThreshold ?? team?.SemanticThreshold ?? model?.SemanticThreshold ?? _options.Semantic.Threshold,
            Bucket = bucket,
            Prompt = prompt,
        };
    }

    /// <summary>The cached answer for the plan: exact first, then the nearest prompt above the threshold; null on a miss.</summary>
    public async ValueTask<CacheHit?> LookupAsync(CachePlan plan, CancellationToken cancellationToken)
    {
        if (!plan.Lookup)
        {
            if (plan.Status != CacheStatus.Unspecified)
            {
                Metrics.Lookup(plan.Model, "bypass");
            }

            return null;
        }

        var bytes = await _store.GetAsync(plan.ExactKey, cancellationToken).ConfigureAwait(false);
        if (bytes is not null && Decode(bytes) is { } exact)
        {
            Metrics.Lookup(plan.Model, "hit_exact");
            return new CacheHit(exact, CacheStatus.HitExact, 1, Age(exact));
        }

        if (plan.Semantic && await TryEmbedAsync(plan, cancellationToken).ConfigureAwait(false) is { } vector)
        {
            if (_index!.Nearest(plan.Bucket, vector) is { } nearest && nearest.Similarity >= plan.Threshold)
            {
                var answer = await _store.GetAsync(nearest.Entry.AnswerKey, cancellationToken).ConfigureAwait(false);
                if (answer is not null && Decode(answer) is { } similar)
                {
                    Metrics.Lookup(plan.Model, "hit_semantic");
                    return new CacheHit(similar, CacheStatus.HitSemantic, Math.Min(1.0, nearest.Similarity), Age(similar));
                }

                // The answer expired or was evicted before its vector: forget the vector too.
                _index.Remove(plan.Bucket, nearest.Entry.AnswerKey);
            }
        }

        Metrics.Lookup(plan.Model, "miss");
        return null;
    }

    /// <summary>How long storing an answer may take (an embeddings deployment's call included).</summary>
    internal static readonly TimeSpan StoreTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Stores a finished answer (stop, length or tool calls; never a filtered or partial one). The
    /// answer was already served: nothing here fails the call or waits on the caller, so it runs on
    /// its own timeout and a failure is logged, not thrown.
    /// </summary>
    public async ValueTask StoreAsync(CachePlan plan, CompletionResponse response)
    {
        if (!plan.Store || response.FinishReason is not (FinishReason.Stop or FinishReason.Length or FinishReason.ToolCalls))
        {
            return;
        }

        using var timeout = new CancellationTokenSource(StoreTimeout, _timeProvider);
        try
        {
            await StoreCoreAsync(plan, response, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.StoreFailed(_logger, plan.Model, ex.GetType().Name, ex.Message);
        }
    }

    private async ValueTask StoreCoreAsync(CachePlan plan, CompletionResponse response, CancellationToken cancellationToken)
    {

        var now = _timeProvider.GetUtcNow();
        var stored = response.Clone();
        stored.Id = "";
        stored.Routing = null;
        stored.Created = now.ToUnixTimeSeconds();
        if (stored.Usage is { } usage)
        {
            usage.CostUsd = 0;
        }

        var bytes = stored.ToByteArray();
        if (bytes.Length > _options.MaxEntryBytes)
        {
            Log.TooLarge(_logger, plan.Model, bytes.Length, _options.MaxEntryBytes);
            return;
        }

        await _store.SetAsync(plan.ExactKey, bytes, plan.Ttl, cancellationToken).ConfigureAwait(false);
        Metrics.Stored(plan.Model);
        if (plan.Semantic && (plan.Vector ?? await TryEmbedAsync(plan, cancellationToken).ConfigureAwait(false)) is { } vector)
        {
            var entry = new VectorEntry(plan.Bucket, plan.ExactKey, vector, now + plan.Ttl);
            _index!.Add(entry);
            if (_sync is not null)
            {
                await _sync.PublishAsync(entry, plan.Ttl).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The prompt's vector (kept on the plan for the store), or null when the embedder failed: no semantic step then.</summary>
    private async ValueTask<float[]?> TryEmbedAsync(CachePlan plan, CancellationToken cancellationToken)
    {
        try
        {
            return plan.Vector = await _embedder!.EmbedAsync(plan.Prompt, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.EmbedFailed(_logger, _embedder!.Name, ex.GetType().Name, ex.Message);
            return null;
        }
    }

    private long Age(CompletionResponse response) => Math.Max(0, _timeProvider.GetUtcNow().ToUnixTimeSeconds() - response.Created);

    private CompletionResponse? Decode(byte[] bytes)
    {
        try
        {
            return CompletionResponse.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            Log.Unreadable(_logger, ex.Message);
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_sync is not null)
        {
            await _sync.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1202, LogLevel.Debug, "Response cache: answer for {Model} not stored, {Size} bytes is over cache.maxEntryBytes {Max}.", EventName = "CacheEntryTooLarge")]
        public static partial void TooLarge(ILogger logger, string model, int size, int max);

        [LoggerMessage(1204, LogLevel.Warning, "Response cache: embedder {Embedder} failed ({Error}: {Message}); semantic lookup skipped.", EventName = "CacheEmbedFailed")]
        public static partial void EmbedFailed(ILogger logger, string embedder, string error, string message);

                [LoggerMessage(1205, LogLevel.Warning, "Response cache: the answer for {Model} was not stored ({Error}: {Message}).", EventName = "CacheStoreFailed")]
        public static partial void StoreFailed(ILogger logger, string model, string error, string message);

                [LoggerMessage(1203, LogLevel.Warning, "Response cache: an entry could not be read ({Message}); treated as a miss.", EventName = "CacheEntryUnreadable")]
        public static partial void Unreadable(ILogger logger, string message);
    }
}
