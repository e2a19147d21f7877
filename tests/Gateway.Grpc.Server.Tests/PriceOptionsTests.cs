using Gateway.Grpc.Governance.Pricing;
using Gateway.Grpc.Server.Configuration;

namespace Gateway.Grpc.Server.Tests;

public sealed class PriceOptionsTests
{
    [Fact]
    public void An_override_without_cachedInput_bills_cached_tokens_at_the_input_price()
    {
        var price = new PriceOptions { Input = 2.5, Output = 10 }.ToModelPrice();

        Assert.Equal(new ModelPrice(2.5m, 10m, 2.5m), price);
        var table = PricingTable.Default.WithOverrides([KeyValuePair.Create("my-model", price)]);
        // 1,000 prompt tokens of which 400 cached, 100 output: all prompt tokens at 2.5/M, output at 10/M.
        Assert.Equal((1000 * 2.5m + 100 * 10m) / 1_000_000m, table.Cost("my-model", 1000, 100, 400, out var known));
        Assert.True(known);
    }

    [Fact]
    public void An_explicit_cachedInput_is_kept_zero_included()
    {
        Assert.Equal(new ModelPrice(2.5m, 10m, 1.25m), new PriceOptions { Input = 2.5, Output = 10, CachedInput = 1.25 }.ToModelPrice());
        Assert.Equal(new ModelPrice(2.5m, 10m, 0m), new PriceOptions { Input = 2.5, Output = 10, CachedInput = 0 }.ToModelPrice());
    }
}
