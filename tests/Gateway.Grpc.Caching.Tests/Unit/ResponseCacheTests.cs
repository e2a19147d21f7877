using Gateway.Grpc.Caching.Configuration;
using Gateway.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static Gateway.Grpc.Caching.Tests.Unit.CacheTestKit;

namespace Gateway.Grpc.Caching.Tests.Unit;

public sealed class ResponseCacheTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-12-04T08:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    private static async Task<CacheHit?> RoundTripAsync(ResponseCache cache, CompletionRequest stored, CompletionRequest asked, string? storeKey = "k1", string? storeTeam = "t1", string? askKey = "k1", string? askTeam = "t1")
    {
        var plan = cache.Plan(stored, "m", storeKey, storeTeam, CacheDirective.None);
        Assert.Null(await cache.LookupAsync(plan, default));
        await cache.StoreAsync(plan, Answer());
        return await cache.LookupAsync(cache.Plan(asked, "m", askKey, askTeam, CacheDirective.None), default);
    }

    [Fact]
    public async Task Exact_MissThenHit_ThenExpiresAfterTtl()
    {
        var cache = Create(Options(o => o.TtlSeconds = 60), _time);
        var plan = cache.Plan(Request(), "m", "k1", "t1", CacheDirective.None);
        Assert.Equal(CacheStatus.Miss, plan.Status);
        Assert.Null(await cache.LookupAsync(plan, default));
        await cache.StoreAsync(plan, Answer());

        _time.Advance(TimeSpan.FromSeconds(59));
        var hit = await cache.LookupAsync(cache.Plan(Request(), "m", "k1", "t1", CacheDirective.None), default);
        Assert.NotNull(hit);
        Assert.Equal(CacheStatus.HitExact, hit.Status);
        Assert.Equal("Paris.", hit.Response.Message.Content);
        Assert.Equal(12, hit.Response.Usage.InputTokens);
        Assert.Equal(59, hit.AgeSeconds);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(await cache.LookupAsync(cache.Plan(Request(), "m", "k1", "t1", CacheDirective.None), default));
    }

    [Fact]
    public async Task Ttl_RequestDirectiveBeatsModelBeatsDefault()
    {
        var options = Options(o =>
        {
            o.TtlSeconds = 3600;
            o.Models["m"] = new ModelCacheOptions { TtlSeconds = 120 };
        });
        var cache = Create(options, _time);
        Assert.Equal(TimeSpan.FromSeconds(120), cache.Plan(Request(), "m", null, null, CacheDirective.None).Ttl);
        Assert.Equal(TimeSpan.FromSeconds(3600), cache.Plan(Request(), "other", null, null, CacheDirective.None).Ttl);
        Assert.Equal(TimeSpan.FromSeconds(5), cache.Plan(Request(), "m", null, null, new CacheDirective(false, false, 5)).Ttl);

        var plan = cache.Plan(Request(), "m", null, null, new CacheDirective(false, false, 5));
        await cache.StoreAsync(plan, Answer());
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Null(await cache.LookupAsync(cache.Plan(Request(), "m", null, null, CacheDirective.None), default));
    }

    [Fact]
    public async Task TenantIsolation_TeamPartition_SharedWithinTeam_NeverAcrossTeams()
    {
        var cache = Create(Options(), _time);
        Assert.NotNull(await RoundTripAsync(cache, Request(), Request(), "a1", "teamA", "a2", "teamA"));
        Assert.Null(await cache.LookupAsync(cache.Plan(Request(), "m", "b1", "teamB", CacheDirective.None), default));
        Assert.Null(await cache.LookupAsync(cache.Plan(Request(), "m", "solo", null, CacheDirective.None), default));
        Assert.Null(await cache.LookupAsync(cache.Plan(Request(), "m", null, null, CacheDirective.None), default));
    }

    [Fact]
    public async Task TenantIsolation_KeyPartition_NotSharedBetweenKeysOfATeam()
    {
        var cache = Create(Options(o => o.Partition = "key"), _time);
        Assert.Null(await RoundTripAsync(cache, Request(), Request(), "a1", "teamA", "a2", "teamA"));
        Assert.NotNull(await cache.LookupAsync(cache.Plan(Request(), "m", "a1", "teamA", CacheDirective.None), default));
    }

    [Fact]
    public async Task TenantIsolation_GlobalPartition_SharedAcrossTeamsOnlyWhenConfigured()
    {
        var cache = Create(Options(o => o.Partition = "global"), _time);
        Assert.NotNull(await RoundTripAsync(cache, Request(), Request(), "a1", "teamA", "b1", "teamB"));
    }

    [Fact]
    public async Task Temperature_AboveZero_BypassedUnlessConfigured()
    {
        var warm = Request();
        warm.Temperature = 0.7;
        var cache = Create(Options(), _time);
        var plan = cache.Plan(warm, "m", null, null, CacheDirective.None);
        Assert.Equal(CacheStatus.Bypass, plan.Status);
        Assert.False(plan.Active);

        var cold = Request();
        cold.Temperature = 0;
        Assert.Equal(CacheStatus.Miss, cache.Plan(cold, "m", null, null, CacheDirective.None).Status);

        var perModel = Create(Options(o => o.Models["m"] = new ModelCacheOptions { CacheNonZeroTemperature = true }), _time);
        Assert.NotNull(await RoundTripAsync(perModel, warm, warm));
    }

    [Fact]
    public async Task Directives_NoStoreKeepsNothing_NoCacheSkipsTheLookupButStores()
    {
        var cache = Create(Options(), _time);
        var noStore = cache.Plan(Request(), "m", null, null, new CacheDirective(false, true, null));
        await cache.StoreAsync(noStore, Answer());
        Assert.Null(await cache.LookupAsync(cache.Plan(Request(), "m", null, null, CacheDirective.None), default));

        var noCache = cache.Plan(Request(), "m", null, null, new CacheDirective(true, false, null));
        Assert.Equal(CacheStatus.Bypass, noCache.Status);
        await cache.StoreAsync(noCache, Answer("Fresh."));
        Assert.Null(await cache.LookupAsync(noCache, default));
        var hit = await cache.LookupAsync(cache.Plan(Request(), "m", null, null, CacheDirective.None), default);
        Assert.Equal("Fresh.", hit?.Response.Message.Content);
    }

    [Fact]
    public void Settings_KeyBeatsTeamBeatsModel_OffMeansOff()
    {
        var cache = Create(Options(o =>
        {
            o.Models["off"] = new ModelCacheOptions { Enabled = false };
            o.Models["m"] = new ModelCacheOptions { SemanticThreshold = 0.9 };
            o.Teams["quiet"] = new TenantCacheOptions { Enabled = false };
            o.Teams["t1"] = new TenantCacheOptions { SemanticThreshold = 0.97 };
            o.Keys["k-on"] = new TenantCacheOptions { Enabled = true, SemanticThreshold = 0.99 };
        }), _time);

        Assert.Equal(CacheStatus.Unspecified, cache.Plan(Request(), "off", null, null, CacheDirective.None).Status);
        Assert.Equal(CacheStatus.Bypass, cache.Plan(Request(), "m", "k1", "quiet", CacheDirective.None).Status);
        Assert.Equal(CacheStatus.Miss, cache.Plan(Request(), "m", "k-on", "quiet", CacheDirective.None).Status);
        Assert.Equal(0.9, cache.Plan(Request(), "m", null, null, CacheDirective.None).Threshold);
        Assert.Equal(0.97, cache.Plan(Request(), "m", "k1", "t1", CacheDirective.None).Threshold);
        Assert.Equal(0.99, cache.Plan(Request(), "m", "k-on", "t1", CacheDirective.None).Threshold);
        Assert.Equal(0.95, cache.Plan(Request(), "other", null, null, CacheDirective.None).Threshold);
    }

    [Fact]
    public void Disabled_PlansNothing_AndIgnoresTheHeader()
    {
        var cache = Create(new CacheOptions(), _time);
        Assert.Same(CachePlan.Off, cache.Plan(Request(), "m", null, null, CacheDirective.None));
        Assert.Equal(CacheDirective.None, cache.ParseDirective("garbage"));
    }

    [Fact]
    public void ParseDirective_Garbage_InvalidArgument()
    {
        var cache = Create(Options(), _time);
        var ex = Assert.Throws<global::Grpc.Core.RpcException>(() => cache.ParseDirective("forever"));
        Assert.Equal(global::Grpc.Core.StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("no-cache, no-store or ttl=N", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(FinishReason.ContentFilter)]
    [InlineData(FinishReason.Unspecified)]
    public async Task Store_FilteredOrUnfinishedAnswer_IsNotStored(FinishReason finish)
    {
        var cache = Create(Options(), _time);
        var plan = cache.Plan(Request(), "m", null, null, CacheDirective.None);
        await cache.StoreAsync(plan, Answer(finish: finish));
        Assert.Null(await cache.LookupAsync(plan, default));
    }

    [Fact]
    public async Task Semantic_Paraphrase_HitsWithScore_UnrelatedMisses_OtherTeamMisses()
    {
        var cache = Create(Options(o => { o.Semantic.Enabled = true; o.Semantic.Threshold = 0.8; }), _time, semantic: true);
        var plan = cache.Plan(Request("How do I reset my password?"), "m", "k1", "t1", CacheDirective.None);
        Assert.True(plan.Semantic);
        Assert.Null(await cache.LookupAsync(plan, default));
        await cache.StoreAsync(plan, Answer("Use the reset link."));

        var hit = await cache.LookupAsync(cache.Plan(Request("How can I reset my password?"), "m", "k1", "t1", CacheDirective.None), default);
        Assert.NotNull(hit);
        Assert.Equal(CacheStatus.HitSemantic, hit.Status);
        Assert.InRange(hit.Similarity, 0.8, 0.9999);
        Assert.Equal("Use the reset link.", hit.Response.Message.Content);

        Assert.Null(await cache.LookupAsync(cache.Plan(Request("What's the weather in Paris tomorrow?"), "m", "k1", "t1", CacheDirective.None), default));
        Assert.Null(await cache.LookupAsync(cache.Plan(Request("How can I reset my password?"), "m", "k9", "t2", CacheDirective.None), default));
        Assert.Null(await cache.LookupAsync(cache.Plan(Request("How can I reset my password?"), "m2", "k1", "t1", CacheDirective.None), default));
    }

    [Fact]
    public async Task Store_StoreThrows_IsLoggedNotThrown_TheAnswerWasAlreadyServed()
    {
        var options = Options();
        var cache = new ResponseCache(options, new ThrowingStore(), null, null, null, _time, new CacheMetrics(new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), Microsoft.Extensions.Logging.Abstractions.NullLogger<ResponseCache>.Instance);
        var plan = cache.Plan(Request(), "m", null, null, CacheDirective.None);

        await cache.StoreAsync(plan, Answer());

        Assert.Equal(1, ((ThrowingStore)cache.Store).Sets);
    }

    private sealed class ThrowingStore : Exact.IExactCacheStore
    {
        public int Sets { get; private set; }

        public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken) => ValueTask.FromResult<byte[]?>(null);

        public ValueTask SetAsync(string key, byte[] value, TimeSpan ttl, CancellationToken cancellationToken)
        {
            Sets++;
            throw new InvalidOperationException("store down");
        }
    }
}
