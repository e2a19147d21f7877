using System.Collections.Frozen;

namespace Gateway.Grpc.Governance.Pricing;

/// <summary>
/// Prices calls from a per-model table (US$ per million tokens). A model is found by its exact
/// name, else by the longest known name it starts with followed by '-', '@' or ':'
/// ("gpt-4o-2024-08-06" → gpt-4o, "claude-3-5-sonnet@20240620" → claude-3-5-sonnet), else by
/// the part after a "provider/" prefix. Names compare case-insensitively. Cached input tokens
/// are part of the input tokens and billed at the cached price. An unknown model costs 0 and
/// reports known = false.
/// </summary>
public sealed class PricingTable : IPricing
{
    /// <summary>
    /// Built-in list prices, US$ per 1M tokens (input, output, cached input), as the providers
    /// published them in June 2025 (standard tier, shortest-context band, no batch discount).
    /// They go stale: override any of them with <c>pricing: { "model": { input, output, cachedInput } }</c>.
    /// Models without a prompt-cache discount repeat the input price as the cached price.
    /// </summary>
    private static readonly (string Model, ModelPrice Price)[] BuiltInPrices =
    [
        // OpenAI
        ("gpt-4o", new(2.50m, 10.00m, 1.25m)),
        ("gpt-4o-mini", new(0.15m, 0.60m, 0.075m)),
        ("gpt-4.1", new(2.00m, 8.00m, 0.50m)),
        ("gpt-4.1-mini", new(0.40m, 1.60m, 0.10m)),
        ("gpt-4.1-nano", new(0.10m, 0.40m, 0.025m)),
        ("o3-mini", new(1.10m, 4.40m, 0.55m)),
        ("o4-mini", new(1.10m, 4.40m, 0.275m)),
        ("text-embedding-3-small", new(0.02m, 0m, 0.02m)),
        ("text-embedding-3-large", new(0.13m, 0m, 0.13m)),

        // Anthropic (cached = cache reads; cache writes are billed as input here)
        ("claude-sonnet-4", new(3.00m, 15.00m, 0.30m)),
        ("claude-3-7-sonnet", new(3.00m, 15.00m, 0.30m)),
        ("claude-3-5-sonnet", new(3.00m, 15.00m, 0.30m)),
        ("claude-3-5-haiku", new(0.80m, 4.00m, 0.08m)),
        ("claude-opus-4", new(15.00m, 75.00m, 1.50m)),

        // Google (prompts up to 128k tokens)
        ("gemini-1.5-pro", new(1.25m, 5.00m, 0.3125m)),
        ("gemini-1.5-flash", new(0.075m, 0.30m, 0.01875m)),
        ("gemini-2.0-flash", new(0.10m, 0.40m, 0.025m)),

        // The embedded simulated provider's models, priced like the real models they stand in for.
        ("sim-small", new(0.15m, 0.60m, 0.075m)),
        ("sim-large", new(2.50m, 10.00m, 1.25m)),
    ];

    private readonly FrozenDictionary<string, ModelPrice> _prices;

    // Case-insensitive name → the name as the table spells it.
    private readonly FrozenDictionary<string, string> _names;

    // Longest first, so the first prefix that matches is the longest one.
    private readonly string[] _byLength;

    /// <summary>A table holding exactly <paramref name="prices"/> (no built-in prices).</summary>
    public PricingTable(IEnumerable<KeyValuePair<string, ModelPrice>> prices)
    {
        ArgumentNullException.ThrowIfNull(prices);
        var table = new Dictionary<string, ModelPrice>(StringComparer.OrdinalIgnoreCase);
        foreach (var (model, price) in prices)
        {
            Validate(model, price);
            table[model] = price;
        }

        _prices = table.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        _names = table.Keys.ToFrozenDictionary(static k => k, static k => k, StringComparer.OrdinalIgnoreCase);
        _byLength = [.. table.Keys.OrderByDescending(static k => k.Length).ThenBy(static k => k, StringComparer.Ordinal)];
    }

    /// <summary>The built-in prices.</summary>
    public static PricingTable Default { get; } = new(BuiltInPrices.Select(static p => KeyValuePair.Create(p.Model, p.Price)));

    /// <summary>The models priced and their prices.</summary>
    public IReadOnlyDictionary<string, ModelPrice> Prices => _prices;

    /// <summary>A copy of this table with <paramref name="overrides"/> added or replacing entries of the same name.</summary>
    /// <exception cref="ArgumentException">A model name is empty or a price is negative (the message names the model).</exception>
    public PricingTable WithOverrides(IEnumerable<KeyValuePair<string, ModelPrice>> overrides)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        var merged = new Dictionary<string, ModelPrice>(_prices, StringComparer.OrdinalIgnoreCase);
        foreach (var (model, price) in overrides)
        {
            Validate(model, price);
            merged[model] = price;
        }

        return new PricingTable(merged);
    }

    /// <summary>The price for <paramref name="model"/> and the table entry that matched it.</summary>
    public bool TryGetPrice(string model, out ModelPrice price, out string matched)
    {
        if (!string.IsNullOrEmpty(model))
        {
            if (TryMatch(model, out price, out matched))
            {
                return true;
            }

            var slash = model.LastIndexOf('/');
            if (slash >= 0 && slash < model.Length - 1 && TryMatch(model[(slash + 1)..], out price, out matched))
            {
                return true;
            }
        }

        price = default;
        matched = "";
        return false;
    }

    public decimal Cost(string model, long inputTokens, long outputTokens, long cachedInputTokens, out bool known)
    {
        if (!TryGetPrice(model, out var price, out _))
        {
            known = false;
            return 0m;
        }

        known = true;
        var input = Math.Max(inputTokens, 0);
        var cached = Math.Clamp(cachedInputTokens, 0, input);
        return (((input - cached) * price.Input) + (cached * price.CachedInput) + (Math.Max(outputTokens, 0) * price.Output)) / 1_000_000m;
    }

    private bool TryMatch(string model, out ModelPrice price, out string matched)
    {
        if (_prices.TryGetValue(model, out price))
        {
            matched = _names[model];
            return true;
        }

        foreach (var known in _byLength)
        {
            if (known.Length < model.Length
                && model[known.Length] is '-' or '@' or ':'
                && model.StartsWith(known, StringComparison.OrdinalIgnoreCase))
            {
                price = _prices[known];
                matched = known;
                return true;
            }
        }

        price = default;
        matched = "";
        return false;
    }

    private static void Validate(string model, ModelPrice price)
    {
        if (string.IsNullOrWhiteSpace(model))
        {
            throw new ArgumentException("pricing: a model name is empty.", nameof(model));
        }

        if (price.Input < 0 || price.Output < 0 || price.CachedInput < 0)
        {
            throw new ArgumentException($"pricing:{model}: prices must not be negative (input {price.Input}, output {price.Output}, cachedInput {price.CachedInput}).", nameof(price));
        }
    }
}
