using Gateway.Grpc.Governance.Pricing;
using Gateway.Grpc.Server.Configuration;

namespace Gateway.Grpc.Server.Governance;

/// <summary>Prices from the <c>pricing</c> configuration section, with defaults for the simulated models.</summary>
internal sealed class ConfiguredPricing(GatewayOptions options) : IPricing
{
    private static readonly Dictionary<string, PriceOptions> Defaults = new(StringComparer.Ordinal)
    {
        ["sim-small"] = new PriceOptions { Input = 0.15, Output = 0.60, CachedInput = 0.075 },
        ["sim-large"] = new PriceOptions { Input = 2.50, Output = 10.00, CachedInput = 1.25 },
    };

    public decimal Cost(string model, long inputTokens, long outputTokens, long cachedInputTokens, out bool known)
    {
        if (!options.Pricing.TryGetValue(model, out var price) && !Defaults.TryGetValue(model, out price))
        {
            known = false;
            return 0m;
        }

        known = true;
        var cached = Math.Min(cachedInputTokens, inputTokens);
        return (((inputTokens - cached) * (decimal)price.Input) + (cached * (decimal)price.CachedInput) + (outputTokens * (decimal)price.Output)) / 1_000_000m;
    }
}
