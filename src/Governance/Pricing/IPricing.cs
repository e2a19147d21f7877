namespace Gateway.Grpc.Governance.Pricing;

/// <summary>Prices a call from its usage.</summary>
public interface IPricing
{
    /// <summary>US$ for the usage; <paramref name="known"/> is false (and the cost 0) for an unpriced model.</summary>
    decimal Cost(string model, long inputTokens, long outputTokens, long cachedInputTokens, out bool known);
}
