using Gateway.Grpc.Governance.Pricing;

namespace Gateway.Grpc.Governance.Tests.Pricing;

public sealed class PricingTableTests
{
    [Theory]
    [InlineData("gpt-4o", 2.50, 10.00, 1.25)]
    [InlineData("gpt-4o-mini", 0.15, 0.60, 0.075)]
    [InlineData("gpt-4.1", 2.00, 8.00, 0.50)]
    [InlineData("gpt-4.1-mini", 0.40, 1.60, 0.10)]
    [InlineData("o3-mini", 1.10, 4.40, 0.55)]
    [InlineData("claude-sonnet-4", 3.00, 15.00, 0.30)]
    [InlineData("claude-3-5-sonnet", 3.00, 15.00, 0.30)]
    [InlineData("claude-3-5-haiku", 0.80, 4.00, 0.08)]
    [InlineData("gemini-1.5-pro", 1.25, 5.00, 0.3125)]
    [InlineData("gemini-1.5-flash", 0.075, 0.30, 0.01875)]
    [InlineData("gemini-2.0-flash", 0.10, 0.40, 0.025)]
    [InlineData("text-embedding-3-small", 0.02, 0, 0.02)]
    [InlineData("sim-small", 0.15, 0.60, 0.075)]
    [InlineData("sim-large", 2.50, 10.00, 1.25)]
    public void Default_OneMillionTokensOfEachKind_CostsTheListPrice(string model, double input, double output, double cachedInput)
    {
        var table = PricingTable.Default;

        Assert.Equal((decimal)input, table.Cost(model, 1_000_000, 0, 0, out var known));
        Assert.True(known);
        Assert.Equal((decimal)output, table.Cost(model, 0, 1_000_000, 0, out _));
        Assert.Equal((decimal)cachedInput, table.Cost(model, 1_000_000, 0, 1_000_000, out _));
    }

    [Fact]
    public void Cost_CachedTokensAreASubsetOfInput_BilledAtTheCachedPrice()
    {
        // sim-small: 0.15 in, 0.60 out, 0.075 cached, per million.
        var cost = PricingTable.Default.Cost("sim-small", inputTokens: 1_000, outputTokens: 100, cachedInputTokens: 400, out _);

        Assert.Equal(((600 * 0.15m) + (400 * 0.075m) + (100 * 0.60m)) / 1_000_000m, cost);
        Assert.Equal(0.00018m, cost);
    }

    [Fact]
    public void Cost_MoreCachedThanInput_ClampsToTheInput()
    {
        Assert.Equal(PricingTable.Default.Cost("gpt-4o", 100, 0, 100, out _), PricingTable.Default.Cost("gpt-4o", 100, 0, 5_000, out _));
    }

    [Theory]
    [InlineData("gpt-4o-2024-08-06", "gpt-4o")]
    [InlineData("gpt-4o-mini-2024-07-18", "gpt-4o-mini")]
    [InlineData("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini")]
    [InlineData("claude-3-5-sonnet-20241022", "claude-3-5-sonnet")]
    [InlineData("claude-3-5-sonnet@20240620", "claude-3-5-sonnet")]
    [InlineData("claude-sonnet-4-20250514", "claude-sonnet-4")]
    [InlineData("gemini-1.5-flash-002", "gemini-1.5-flash")]
    [InlineData("GPT-4o", "gpt-4o")]
    [InlineData("openai/gpt-4o-mini", "gpt-4o-mini")]
    public void Lookup_VariantName_MatchesTheLongestKnownPrefix(string model, string expected)
    {
        Assert.True(PricingTable.Default.TryGetPrice(model, out var price, out var matched));

        Assert.Equal(expected, matched);
        Assert.Equal(PricingTable.Default.Prices[expected], price);
    }

    [Theory]
    [InlineData("gpt-4omega")]
    [InlineData("llama-3-70b")]
    [InlineData("")]
    [InlineData("openai/")]
    public void Cost_UnknownModel_IsZeroAndNotKnown(string model)
    {
        Assert.Equal(0m, PricingTable.Default.Cost(model, 1_000, 1_000, 0, out var known));
        Assert.False(known);
    }

    [Fact]
    public void WithOverrides_ReplacesAndAdds_LeavesTheOriginalAlone()
    {
        var table = PricingTable.Default.WithOverrides(new Dictionary<string, ModelPrice>
        {
            ["gpt-4o"] = new(1m, 2m, 0.5m),
            ["my-finetune"] = new(3m, 6m, 3m),
        });

        Assert.Equal(1m, table.Cost("gpt-4o", 1_000_000, 0, 0, out _));
        Assert.Equal(1m, table.Cost("gpt-4o-2024-08-06", 1_000_000, 0, 0, out _));
        Assert.Equal(6m, table.Cost("my-finetune", 0, 1_000_000, 0, out var known));
        Assert.True(known);
        Assert.Equal(0.60m, table.Cost("gpt-4o-mini", 0, 1_000_000, 0, out _));
        Assert.Equal(2.50m, PricingTable.Default.Cost("gpt-4o", 1_000_000, 0, 0, out _));
        Assert.Equal(0m, PricingTable.Default.Cost("my-finetune", 1_000_000, 0, 0, out _));
    }

    [Fact]
    public void WithOverrides_NegativePrice_ThrowsNamingTheModel()
    {
        var ex = Assert.Throws<ArgumentException>(() => PricingTable.Default.WithOverrides([KeyValuePair.Create("cheap", new ModelPrice(-1m, 0m, 0m))]));

        Assert.Contains("pricing:cheap", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cost_LargeUsage_IsExactDecimal()
    {
        Assert.Equal(9_999_999.9999999m, PricingTable.Default.Cost("gemini-1.5-flash", 0, 33_333_333_333_333, 0, out _));
    }
}
