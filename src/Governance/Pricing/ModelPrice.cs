namespace Gateway.Grpc.Governance.Pricing;

/// <summary>A model's price in US dollars per million tokens.</summary>
/// <param name="Input">Uncached prompt tokens.</param>
/// <param name="Output">Completion tokens (reasoning tokens included).</param>
/// <param name="CachedInput">Prompt tokens served from the provider's prompt cache.</param>
public readonly record struct ModelPrice(decimal Input, decimal Output, decimal CachedInput);
