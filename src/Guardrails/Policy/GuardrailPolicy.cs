using System.Collections.Frozen;

namespace Gateway.Grpc.Guardrails.Policy;

/// <summary>The built-in levels a key, team or model group names.</summary>
public enum GuardrailLevel
{
    Off,
    Standard,
    Strict,
}

/// <summary>
/// What to do for each rule, per direction. A key is a rule (<c>pii.email</c>) or a prefix of
/// one (<c>pii</c>); the longest key that matches decides. Immutable; built once per distinct
/// (level, overrides) and cached by the caller.
/// </summary>
public sealed class GuardrailPolicy
{
    private readonly FrozenDictionary<string, GuardrailAction> _input;
    private readonly FrozenDictionary<string, GuardrailAction> _output;

    public GuardrailPolicy(IReadOnlyDictionary<string, GuardrailAction> input, IReadOnlyDictionary<string, GuardrailAction> output)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        _input = input.ToFrozenDictionary(StringComparer.Ordinal);
        _output = output.ToFrozenDictionary(StringComparer.Ordinal);
        IsOff = !AnyOn(_input) && !AnyOn(_output);
        OutputOff = !AnyOn(_output);
    }

    /// <summary>No rule is on in either direction: the call needs no guardrail work at all.</summary>
    public bool IsOff { get; }

    /// <summary>No output rule is on (masked values still need restoring).</summary>
    public bool OutputOff { get; }

    public IReadOnlyDictionary<string, GuardrailAction> Input => _input;

    public IReadOnlyDictionary<string, GuardrailAction> Output => _output;

    /// <summary>The level's rule table: the defaults documented in README "Guardrails".</summary>
    public static GuardrailPolicy ForLevel(GuardrailLevel level) => level switch
    {
        GuardrailLevel.Standard => new GuardrailPolicy(
            new Dictionary<string, GuardrailAction>
            {
                ["pii"] = GuardrailAction.Flag,
                ["secret"] = GuardrailAction.Redact,
                ["injection"] = GuardrailAction.Flag,
                ["topic"] = GuardrailAction.Block,
            },
            new Dictionary<string, GuardrailAction>
            {
                ["pii"] = GuardrailAction.Flag,
                ["secret"] = GuardrailAction.Redact,
            }),
        GuardrailLevel.Strict => new GuardrailPolicy(
            new Dictionary<string, GuardrailAction>
            {
                ["pii"] = GuardrailAction.Mask,
                ["pii.ip_address"] = GuardrailAction.Flag,
                ["secret"] = GuardrailAction.Block,
                ["injection"] = GuardrailAction.Block,
                ["topic"] = GuardrailAction.Block,
            },
            new Dictionary<string, GuardrailAction>
            {
                ["pii"] = GuardrailAction.Redact,
                ["pii.ip_address"] = GuardrailAction.Flag,
                ["secret"] = GuardrailAction.Redact,
            }),
        _ => Off,
    };

    public static GuardrailPolicy Off { get; } = new(new Dictionary<string, GuardrailAction>(), new Dictionary<string, GuardrailAction>());

    public GuardrailAction Resolve(string rule, GuardrailDirection direction)
        => Resolve(direction == GuardrailDirection.Input ? _input : _output, rule);

    /// <summary>This policy with <paramref name="overrides"/> on top (an override replaces the action of its key).</summary>
    public GuardrailPolicy With(GuardrailOverrides overrides)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        if (overrides.IsEmpty)
        {
            return this;
        }

        var input = new Dictionary<string, GuardrailAction>(_input, StringComparer.Ordinal);
        var output = new Dictionary<string, GuardrailAction>(_output, StringComparer.Ordinal);
        foreach (var (key, action) in overrides.Input)
        {
            input[key] = action;
        }

        foreach (var (key, action) in overrides.Output)
        {
            output[key] = action;
        }

        return new GuardrailPolicy(input, output);
    }

    /// <summary>
    /// Two policies that both apply (the caller's and the model group's): for every rule the
    /// stronger action wins, so neither side can weaken the other.
    /// </summary>
    public static GuardrailPolicy Strongest(GuardrailPolicy a, GuardrailPolicy b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (b.IsOff)
        {
            return a;
        }

        if (a.IsOff)
        {
            return b;
        }

        return new GuardrailPolicy(Merge(a._input, b._input), Merge(a._output, b._output));
    }

    private static Dictionary<string, GuardrailAction> Merge(FrozenDictionary<string, GuardrailAction> a, FrozenDictionary<string, GuardrailAction> b)
    {
        // For any rule, the most specific key in the union resolves in each side to that side's
        // own answer for the rule, so taking the max per union key is the max per rule.
        var merged = new Dictionary<string, GuardrailAction>(StringComparer.Ordinal);
        foreach (var key in a.Keys.Concat(b.Keys))
        {
            var x = Resolve(a, key);
            var y = Resolve(b, key);
            merged[key] = x > y ? x : y;
        }

        return merged;
    }

    private static GuardrailAction Resolve(FrozenDictionary<string, GuardrailAction> table, string rule)
    {
        var key = rule;
        while (true)
        {
            if (table.TryGetValue(key, out var action))
            {
                return action;
            }

            var dot = key.LastIndexOf('.');
            if (dot < 0)
            {
                return GuardrailAction.Off;
            }

            key = key[..dot];
        }
    }

    private static bool AnyOn(FrozenDictionary<string, GuardrailAction> table)
    {
        foreach (var value in table.Values)
        {
            if (value != GuardrailAction.Off)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// Per-rule overrides, from configuration or from a key's or team's <c>guardrail_overrides</c>
/// metadata: <c>rule=action</c> pairs separated by commas; a rule prefixed with <c>output:</c>
/// applies to answers, otherwise to requests. Example: <c>pii.email=mask, output:secret=block</c>.
/// </summary>
public sealed class GuardrailOverrides
{
    public static readonly GuardrailOverrides None = new();

    public Dictionary<string, GuardrailAction> Input { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, GuardrailAction> Output { get; } = new(StringComparer.Ordinal);

    public bool IsEmpty => Input.Count == 0 && Output.Count == 0;

    /// <summary>Parses the metadata form; <paramref name="error"/> names the bad entry and the fix.</summary>
    public static bool TryParse(string? text, out GuardrailOverrides overrides, out string? error)
    {
        overrides = new GuardrailOverrides();
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = raw.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                error = $"'{raw}' is not rule=action (e.g. pii.email=mask)";
                return false;
            }

            var rule = raw[..eq].Trim();
            var output = rule.StartsWith("output:", StringComparison.OrdinalIgnoreCase);
            if (output)
            {
                rule = rule["output:".Length..];
            }
            else if (rule.StartsWith("input:", StringComparison.OrdinalIgnoreCase))
            {
                rule = rule["input:".Length..];
            }

            if (!TryParseAction(raw[(eq + 1)..].Trim(), out var action))
            {
                error = $"'{raw}': the action must be off, flag, mask, redact or block";
                return false;
            }

            (output ? overrides.Output : overrides.Input)[rule.ToLowerInvariant()] = action;
        }

        return true;
    }

    public static bool TryParseAction(string? text, out GuardrailAction action)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "off" or "none" or "allow":
                action = GuardrailAction.Off;
                return true;
            case "flag" or "log":
                action = GuardrailAction.Flag;
                return true;
            case "mask":
                action = GuardrailAction.Mask;
                return true;
            case "redact":
                action = GuardrailAction.Redact;
                return true;
            case "block":
                action = GuardrailAction.Block;
                return true;
            default:
                action = GuardrailAction.Off;
                return false;
        }
    }

    public static bool TryParseLevel(string? text, out GuardrailLevel level)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "off" or "none":
                level = GuardrailLevel.Off;
                return true;
            case "standard":
                level = GuardrailLevel.Standard;
                return true;
            case "strict":
                level = GuardrailLevel.Strict;
                return true;
            default:
                level = GuardrailLevel.Off;
                return false;
        }
    }
}
