using System.Text.RegularExpressions;
using Gateway.Grpc.Guardrails;
using Gateway.Grpc.Guardrails.Detectors;
using Gateway.Grpc.Guardrails.Policy;
using Gateway.Grpc.Server.Configuration;

namespace Gateway.Grpc.Server.Guardrails;

/// <summary>Turns <c>guardrails:</c> and <c>models[].guardrails</c> into policies and detectors, and validates them at start-up.</summary>
internal static partial class GuardrailConfiguration
{
    public static void Validate(GuardrailsOptions options, List<string> errors)
    {
        if (!GuardrailOverrides.TryParseLevel(options.DefaultLevel, out _))
        {
            errors.Add($"guardrails:defaultLevel: '{options.DefaultLevel}' is not a level (use off, standard or strict).");
        }

        if (options.StreamWindowChars is < 16 or > 4096)
        {
            errors.Add($"guardrails:streamWindowChars: must be between 16 and 4096, got {options.StreamWindowChars}.");
        }

        if (!(options.InjectionThreshold > 0 && options.InjectionThreshold <= 1))
        {
            errors.Add($"guardrails:injectionThreshold: must be in (0, 1], got {options.InjectionThreshold}.");
        }

        if (options.ResponseFormat.Retries is < 0 or > 3)
        {
            errors.Add($"guardrails:responseFormat:retries: must be between 0 and 3, got {options.ResponseFormat.Retries}.");
        }

        foreach (var (level, table) in options.Levels)
        {
            if (!GuardrailOverrides.TryParseLevel(level, out var parsed) || parsed == GuardrailLevel.Off)
            {
                errors.Add($"guardrails:levels:{level}: only standard and strict can be tuned.");
            }

            CheckTable(table.Input, $"guardrails:levels:{level}:input", errors);
            CheckTable(table.Output, $"guardrails:levels:{level}:output", errors);
        }

        CheckTopics(options.DenyTopics, "guardrails:denyTopics", errors);
        CheckTopics(options.AllowTopics, "guardrails:allowTopics", errors);
    }

    public static void ValidateModel(ModelGuardrailOptions options, string key, List<string> errors)
    {
        if (!string.IsNullOrEmpty(options.Level) && !GuardrailOverrides.TryParseLevel(options.Level, out _))
        {
            errors.Add($"{key}:level: '{options.Level}' is not a level (use off, standard or strict).");
        }

        CheckTable(options.Input, key + ":input", errors);
        CheckTable(options.Output, key + ":output", errors);
    }

    /// <summary>The scanner: default detectors plus the configured topics.</summary>
    /// <param name="embed">Unit-length embedding for topics with examples (the local MiniLM model).</param>
    public static GuardrailScanner CreateScanner(GuardrailsOptions options, Func<string, float[]>? embed = null)
    {
        TopicDetector? topics = options.DenyTopics.Count + options.AllowTopics.Count > 0
            ? new TopicDetector([.. options.DenyTopics.Select(ToDefinition)], [.. options.AllowTopics.Select(ToDefinition)], embed)
            : null;
        return GuardrailScanner.CreateDefault(topics, options.InjectionThreshold);
    }

    /// <summary>A level's policy: the built-in table with <c>guardrails:levels:LEVEL</c> on top.</summary>
    public static GuardrailPolicy LevelPolicy(GuardrailsOptions options, GuardrailLevel level)
    {
        var policy = GuardrailPolicy.ForLevel(level);
        if (level != GuardrailLevel.Off && options.Levels.TryGetValue(level.ToString(), out var table))
        {
            policy = policy.With(ToOverrides(table.Input, table.Output));
        }

        return policy;
    }

    /// <summary>A model group's own policy, or null when it sets none.</summary>
    public static GuardrailPolicy? ModelPolicy(GuardrailsOptions options, ModelGuardrailOptions model)
    {
        if (string.IsNullOrEmpty(model.Level) && model.Input.Count == 0 && model.Output.Count == 0)
        {
            return null;
        }

        GuardrailOverrides.TryParseLevel(model.Level, out var level);
        return LevelPolicy(options, level).With(ToOverrides(model.Input, model.Output));
    }

    private static GuardrailOverrides ToOverrides(Dictionary<string, string> input, Dictionary<string, string> output)
    {
        var overrides = new GuardrailOverrides();
        foreach (var (rule, action) in input)
        {
            GuardrailOverrides.TryParseAction(action, out var parsed);
            overrides.Input[rule.ToLowerInvariant()] = parsed;
        }

        foreach (var (rule, action) in output)
        {
            GuardrailOverrides.TryParseAction(action, out var parsed);
            overrides.Output[rule.ToLowerInvariant()] = parsed;
        }

        return overrides;
    }

    private static TopicDefinition ToDefinition(TopicOptions topic) => new(topic.Name, topic.Keywords, topic.Patterns, topic.Examples, topic.Similarity);

    private static void CheckTable(Dictionary<string, string> table, string key, List<string> errors)
    {
        foreach (var (rule, action) in table)
        {
            if (!RuleName().IsMatch(rule))
            {
                errors.Add($"{key}:{rule}: is not a rule or rule prefix (e.g. pii, pii.email, secret.aws_access_key, injection, topic.weapons).");
            }

            if (!GuardrailOverrides.TryParseAction(action, out _))
            {
                errors.Add($"{key}:{rule}: '{action}' is not an action (use off, flag, mask, redact or block).");
            }
        }
    }

    private static void CheckTopics(List<TopicOptions> topics, string key, List<string> errors)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < topics.Count; i++)
        {
            var topic = topics[i];
            if (!TopicName().IsMatch(topic.Name))
            {
                errors.Add($"{key}:{i}:name: '{topic.Name}' must be lower-case letters, digits and underscores (the rule is topic.NAME).");
            }
            else if (!names.Add(topic.Name))
            {
                errors.Add($"{key}:{i}:name: '{topic.Name}' is defined twice.");
            }

            if (topic.Keywords.Count == 0 && topic.Patterns.Count == 0 && topic.Examples.Count == 0)
            {
                errors.Add($"{key}:{i}: a topic needs keywords, patterns or examples.");
            }

            if (topic.Examples.Exists(string.IsNullOrWhiteSpace))
            {
                errors.Add($"{key}:{i}:examples: an example is empty.");
            }

            if (!(topic.Similarity > 0 && topic.Similarity <= 1))
            {
                errors.Add($"{key}:{i}:similarity: {topic.Similarity.ToString(System.Globalization.CultureInfo.InvariantCulture)} is not in (0, 1].");
            }

            for (var j = 0; j < topic.Patterns.Count; j++)
            {
                try
                {
                    _ = new Regex(topic.Patterns[j], RegexOptions.None, TimeSpan.FromMilliseconds(50));
                }
                catch (ArgumentException ex)
                {
                    errors.Add($"{key}:{i}:patterns:{j}: not a valid regular expression: {ex.Message}");
                }
            }
        }
    }

    [GeneratedRegex(@"^[a-z0-9_]+(?:\.[a-z0-9_]+)*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex RuleName();

    [GeneratedRegex(@"^[a-z0-9_]+$", RegexOptions.CultureInvariant)]
    private static partial Regex TopicName();
}
