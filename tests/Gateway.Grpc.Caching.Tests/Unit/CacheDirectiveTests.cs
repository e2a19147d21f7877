namespace Gateway.Grpc.Caching.Tests.Unit;

public sealed class CacheDirectiveTests
{
    [Theory]
    [InlineData(null, false, false, null)]
    [InlineData("", false, false, null)]
    [InlineData("no-cache", true, false, null)]
    [InlineData("NO-STORE", false, true, null)]
    [InlineData("ttl=60", false, false, 60)]
    [InlineData(" no-cache , ttl=5 ", true, false, 5)]
    [InlineData("no-cache,no-store", true, true, null)]
    public void TryParse_Valid(string? header, bool noCache, bool noStore, int? ttl)
    {
        Assert.True(CacheDirective.TryParse(header, 3600, out var directive, out var error), error);
        Assert.Equal(new CacheDirective(noCache, noStore, ttl), directive);
    }

    [Theory]
    [InlineData("ttl=0", "ttl=0")]
    [InlineData("ttl=-5", "ttl=-5")]
    [InlineData("ttl=abc", "ttl=abc")]
    [InlineData("ttl=7200", "exceeds the maximum of 3600")]
    [InlineData("max-age=5", "'max-age=5' is not understood")]
    public void TryParse_Invalid_NamesTheFix(string header, string expected)
    {
        Assert.False(CacheDirective.TryParse(header, 3600, out _, out var error));
        Assert.StartsWith("cache: ", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }
}
