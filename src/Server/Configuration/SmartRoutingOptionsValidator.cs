using System.Text.RegularExpressions;
using Gateway.Grpc.Server.Routing;

namespace Gateway.Grpc.Server.Configuration;

/// <summary>Start-up checks of model kinds, task routers, cascades, continuation and deployment capabilities.</summary>
internal static class SmartRoutingOptionsValidator
{
    public static void Validate(GatewayOptions options, List<string> errors)
    {
        var kinds = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var model in options.Models)
        {
            kinds.TryAdd(model.Name, model.Kind);
        }

        for (var i = 0; i < options.Models.Count; i++)
        {
            var model = options.Models[i];
            var key = $"models:{i}";
            if (Array.IndexOf(ModelKinds.All, model.Kind) < 0)
            {
                errors.Add($"{key}:kind: '{model.Kind}' is not a model kind (use one of: {string.Join(", ", ModelKinds.All)}).");
                continue;
            }

            if (model.Kind != ModelKinds.Deployments && model.Deployments.Count > 0)
            {
                errors.Add($"{key}:deployments: a model of kind {model.Kind} has no deployments of its own; remove them (its {(model.Kind == ModelKinds.Router ? "routes" : "stages")} name the models that serve it).");
            }

            if (model.Continuation.Enabled && model.Continuation.MaxContinuations < 1)
            {
                errors.Add($"{key}:continuation:maxContinuations: must be at least 1 when continuation is enabled.");
            }

            if (model.Kind == ModelKinds.Router)
            {
                ValidateRouter(model.Router, key + ":router", kinds, errors);
            }
            else if (model.Kind == ModelKinds.Cascade)
            {
                ValidateCascade(model.Cascade, key + ":cascade", kinds, errors);
            }

            for (var j = 0; j < model.Deployments.Count; j++)
            {
                var deployment = model.Deployments[j];
                var dkey = $"{key}:deployments:{j}";
                if (deployment.MaxOutputTokens < 0)
                {
                    errors.Add($"{dkey}:maxOutputTokens: must not be negative (0 = unknown).");
                }

                foreach (var capability in deployment.Capabilities ?? [])
                {
                    if (!DeploymentCapabilities.TryParse(capability, out _))
                    {
                        errors.Add($"{dkey}:capabilities: '{capability}' is not a capability (use any of: {string.Join(", ", DeploymentCapabilities.Names)}, or 'none').");
                    }
                }
            }
        }
    }

    private static void ValidateRouter(TaskRouterOptions router, string key, Dictionary<string, string> kinds, List<string> errors)
    {
        if (router.Routes.Count == 0)
        {
            errors.Add($"{key}:routes: name at least one task class and its model, e.g. routes: {{ code: code-model }}.");
        }

        foreach (var (taskClass, target) in router.Routes)
        {
            if (!kinds.TryGetValue(target, out var kind))
            {
                errors.Add($"{key}:routes:{taskClass}: '{target}' is not a configured model.");
            }
            else if (kind == ModelKinds.Router)
            {
                errors.Add($"{key}:routes:{taskClass}: '{target}' is itself a router; route to a model of kind deployments or cascade.");
            }
        }

        if (router.DefaultClass.Length == 0)
        {
            errors.Add($"{key}:defaultClass: is required (the class of a request no rule or example decides; one of the routes).");
        }
        else if (!router.Routes.ContainsKey(router.DefaultClass))
        {
            errors.Add($"{key}:defaultClass: '{router.DefaultClass}' is not a class in routes.");
        }

        for (var r = 0; r < router.Rules.Count; r++)
        {
            var rule = router.Rules[r];
            if (!router.Routes.ContainsKey(rule.Class))
            {
                errors.Add($"{key}:rules:{r}:class: '{rule.Class}' is not a class in routes.");
            }

            if (rule.Pattern is { } pattern)
            {
                try
                {
                    _ = new Regex(pattern, RegexOptions.None, TimeSpan.FromSeconds(1));
                }
                catch (ArgumentException ex)
                {
                    errors.Add($"{key}:rules:{r}:pattern: not a valid regular expression: {ex.Message}");
                }
            }
        }

        foreach (var (taskClass, examples) in router.Examples)
        {
            if (!router.Routes.ContainsKey(taskClass))
            {
                errors.Add($"{key}:examples:{taskClass}: '{taskClass}' is not a class in routes.");
            }
            else if (examples.Count == 0)
            {
                errors.Add($"{key}:examples:{taskClass}: give at least one example prompt.");
            }
        }

        if (router.MinSimilarity is < 0 or > 1)
        {
            errors.Add($"{key}:minSimilarity: must be between 0 and 1.");
        }
    }

    private static void ValidateCascade(CascadeOptions cascade, string key, Dictionary<string, string> kinds, List<string> errors)
    {
        if (cascade.Stages.Count < 2)
        {
            errors.Add($"{key}:stages: a cascade needs at least two models, cheapest first.");
        }

        foreach (var stage in cascade.Stages)
        {
            CheckServingModel($"{key}:stages", stage, kinds, errors);
        }

        var gate = cascade.Gate;
        if (!gate.Json && !gate.Refusal && gate.MinLength <= 0 && gate.Judge is null)
        {
            errors.Add($"{key}:gate: set at least one check (json, refusal, minLength or judge); without one the first stage always passes.");
        }

        if (gate.MinLength < 0)
        {
            errors.Add($"{key}:gate:minLength: must not be negative.");
        }

        if (gate.Judge is { } judge)
        {
            CheckServingModel($"{key}:gate:judge:model", judge.Model, kinds, errors);
            if (judge.Threshold is < 0 or > 10)
            {
                errors.Add($"{key}:gate:judge:threshold: must be between 0 and 10 (the judge scores 0-10).");
            }

            if (judge.MaxTokens < 1)
            {
                errors.Add($"{key}:gate:judge:maxTokens: must be at least 1.");
            }
        }
    }

    private static void CheckServingModel(string key, string name, Dictionary<string, string> kinds, List<string> errors)
    {
        if (!kinds.TryGetValue(name, out var kind))
        {
            errors.Add($"{key}: '{name}' is not a configured model.");
        }
        else if (kind != ModelKinds.Deployments)
        {
            errors.Add($"{key}: '{name}' is of kind {kind}; cascade stages and judges must be models of kind deployments.");
        }
    }
}
