using System.Net;
using Gateway.Grpc.Adapters.Secrets;
using Gateway.Grpc.Server.Dispatch;

namespace Gateway.Grpc.Server.Configuration;

/// <summary>Checks the configuration at start-up; every message names the key and the fix.</summary>
internal static class GatewayOptionsValidator
{
    public static List<string> Validate(GatewayOptions options, IReadOnlyCollection<string> knownProviders)
    {
        var errors = new List<string>();
        if (!TryParseEndpoint(options.GrpcAddress, out _))
        {
            errors.Add($"grpcAddress: '{options.GrpcAddress}' is not a host:port address (for example 127.0.0.1:50051).");
        }

        if (!TryParseEndpoint(options.HttpAddress, out _))
        {
            errors.Add($"httpAddress: '{options.HttpAddress}' is not a host:port address (for example 127.0.0.1:8080).");
        }

        for (var i = 0; i < options.GrpcWeb.AllowedOrigins.Count; i++)
        {
            var origin = options.GrpcWeb.AllowedOrigins[i];
            if (origin != "*" && !(Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.AbsolutePath == "/" && !origin.EndsWith('/')))
            {
                errors.Add($"grpcWeb:allowedOrigins:{i}: '{origin}' is not an origin; use scheme://host[:port] without a path (https://app.example.com) or *.");
            }
        }

        if (options.GrpcAddress == options.HttpAddress && !options.GrpcAddress.EndsWith(":0", StringComparison.Ordinal))
        {
            errors.Add("httpAddress: must differ from grpcAddress (gRPC needs an HTTP/2-only port).");
        }

        if (!Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(options.LogLevel, ignoreCase: true, out _))
        {
            errors.Add($"logLevel: '{options.LogLevel}' is not a level (Trace, Debug, Information, Warning, Error, Critical, None).");
        }

        if (options.MaxReceiveMessageSize <= 0)
        {
            errors.Add($"maxReceiveMessageSize: must be positive, got {options.MaxReceiveMessageSize}.");
        }

        if (options.IdleTrimSeconds < 0)
        {
            errors.Add($"idleTrimSeconds: must be 0 (off) or a number of seconds, got {options.IdleTrimSeconds}.");
        }

        if (options.MaxStreamsPerConnection <= 0)
        {
            errors.Add($"maxStreamsPerConnection: must be positive, got {options.MaxStreamsPerConnection}.");
        }

        if (options.Auth.MasterKey is { } master && !SecretReference.IsReference(master))
        {
            errors.Add("auth:masterKey: must be a secret reference (env:NAME or file:/path), never the key itself.");
        }

        if (options.Store.Kind is not ("sqlite" or "postgres" or "memory"))
        {
            errors.Add($"store:kind: '{options.Store.Kind}' is not a store (use sqlite, postgres or memory).");
        }

        if (options.Store.Kind == "postgres" && !SecretReference.IsReference(options.Store.ConnectionString))
        {
            errors.Add("store:connectionString: a PostgreSQL store needs a connection string as a secret reference (env:NAME or file:/path).");
        }

        if (options.RateLimits.Algorithm is not ("sliding-window" or "gcra"))
        {
            errors.Add($"rateLimits:algorithm: '{options.RateLimits.Algorithm}' is not an algorithm (use sliding-window or gcra).");
        }

        if (options.Budgets.AlertWebhook is { Length: > 0 } webhook
            && (!Uri.TryCreate(webhook, UriKind.Absolute, out var hook) || hook.Scheme is not ("http" or "https")))
        {
            errors.Add($"budgets:alertWebhook: '{webhook}' is not an absolute http(s) URL.");
        }

        if (options.RateLimits.Backend is not ("local" or "redis"))
        {
            errors.Add($"rateLimits:backend: '{options.RateLimits.Backend}' is not a backend (use local or redis).");
        }

        if (options.RateLimits.Redis.Password is { } redisPassword && !SecretReference.IsReference(redisPassword))
        {
            errors.Add("rateLimits:redis:password: must be a secret reference (env:NAME or file:/path).");
        }

        if (options.RateLimits.DefaultOutputReservation < 0)
        {
            errors.Add("rateLimits:defaultOutputReservation: must not be negative.");
        }

        foreach (var (model, price) in options.Pricing)
        {
            if (price.Input < 0 || price.Output < 0 || price.CachedInput < 0)
            {
                errors.Add($"pricing:{model}: prices must not be negative.");
            }
        }

        Gateway.Grpc.Observability.Configuration.ObservabilityOptionsValidator.Validate(options.Telemetry, options.AccessLog, options.Audit, errors);
        var modelNames = new HashSet<string>(StringComparer.Ordinal);
        var deploymentNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Models.Count; i++)
        {
            var model = options.Models[i];
            var key = $"models:{i}";
            if (string.IsNullOrWhiteSpace(model.Name))
            {
                errors.Add($"{key}:name: is required (the public model name callers use).");
            }
            else if (!modelNames.Add(model.Name))
            {
                errors.Add($"{key}:name: '{model.Name}' is defined twice; model names must be unique.");
            }

            if (model.ContextWindow < 0)
            {
                errors.Add($"{key}:contextWindow: must not be negative.");
            }

            if (!RoutingStrategies.IsKnown(model.Strategy))
            {
                errors.Add($"{key}:strategy: '{model.Strategy}' is not a strategy (use one of: {string.Join(", ", RoutingStrategies.All)}).");
            }

            if (model.Retry.MaxAttempts < 1)
            {
                errors.Add($"{key}:retry:maxAttempts: must be at least 1 (1 = no retry), got {model.Retry.MaxAttempts}.");
            }

            if (model.Retry.BaseDelayMs < 0 || model.Retry.MaxDelayMs < model.Retry.BaseDelayMs)
            {
                errors.Add($"{key}:retry: baseDelayMs must be >= 0 and maxDelayMs >= baseDelayMs.");
            }

            if (model.Retry.BudgetRatio < 0)
            {
                errors.Add($"{key}:retry:budgetRatio: must not be negative.");
            }

            if (model.CircuitBreaker.FailureRatio is <= 0 or > 1)
            {
                errors.Add($"{key}:circuitBreaker:failureRatio: must be in (0, 1], got {model.CircuitBreaker.FailureRatio}.");
            }

            if (model.CircuitBreaker.MinimumThroughput < 2)
            {
                errors.Add($"{key}:circuitBreaker:minimumThroughput: must be at least 2.");
            }

            if (model.CircuitBreaker.SamplingDurationMs < 500 || model.CircuitBreaker.BreakDurationMs < 500)
            {
                errors.Add($"{key}:circuitBreaker: samplingDurationMs and breakDurationMs must be at least 500.");
            }

            if (model.Hedging.Enabled && (model.Hedging.MaxHedges < 1 || model.Hedging.DelayMs < 1))
            {
                errors.Add($"{key}:hedging: maxHedges and delayMs must be at least 1 when hedging is enabled.");
            }

            if (model.Timeouts.AttemptMs < 1 || model.Timeouts.FirstTokenMs < 1 || model.Timeouts.MinAttemptBudgetMs < 0)
            {
                errors.Add($"{key}:timeouts: attemptMs and firstTokenMs must be positive, minAttemptBudgetMs not negative.");
            }

            if (model.Deployments.Count == 0)
            {
                errors.Add($"{key}:deployments: model '{model.Name}' needs at least one deployment.");
            }

            for (var j = 0; j < model.Deployments.Count; j++)
            {
                var deployment = model.Deployments[j];
                var dkey = $"{key}:deployments:{j}";
                if (string.IsNullOrWhiteSpace(deployment.Name))
                {
                    errors.Add($"{dkey}:name: is required (a unique deployment name).");
                }
                else if (!deploymentNames.Add(deployment.Name))
                {
                    errors.Add($"{dkey}:name: '{deployment.Name}' is used twice; deployment names must be unique.");
                }

                if (!knownProviders.Contains(deployment.Provider))
                {
                    errors.Add($"{dkey}:provider: '{deployment.Provider}' is not a known provider (known: {string.Join(", ", knownProviders)}).");
                }
            }
        }

        for (var i = 0; i < options.Models.Count; i++)
        {
            var model = options.Models[i];
            CheckChain(errors, $"models:{i}:fallbacks", model.Name, model.Fallbacks, modelNames);
            CheckChain(errors, $"models:{i}:contextFallbacks", model.Name, model.ContextFallbacks, modelNames);
            CheckChain(errors, $"models:{i}:contentFilterFallbacks", model.Name, model.ContentFilterFallbacks, modelNames);
            for (var j = 0; j < model.Deployments.Count; j++)
            {
                if (model.Deployments[j].Weight < 0)
                {
                    errors.Add($"models:{i}:deployments:{j}:weight: must not be negative.");
                }
            }

            Gateway.Grpc.Server.Guardrails.GuardrailConfiguration.ValidateModel(model.Guardrails, $"models:{i}:guardrails", errors);
        }

        Gateway.Grpc.Server.Guardrails.GuardrailConfiguration.Validate(options.Guardrails, errors);
        return errors;
    }

    private static void CheckChain(List<string> errors, string key, string self, List<string> chain, HashSet<string> modelNames)
    {
        foreach (var name in chain)
        {
            if (name == self)
            {
                errors.Add($"{key}: model '{self}' cannot fall back to itself.");
            }
            else if (!modelNames.Contains(name))
            {
                errors.Add($"{key}: '{name}' is not a configured model.");
            }
        }
    }

    public static bool TryParseEndpoint(string value, out IPEndPoint endpoint)
    {
        endpoint = null!;
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        var text = value.Trim();
        if (text.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase))
        {
            text = "127.0.0.1:" + text["localhost:".Length..];
        }

        if (!IPEndPoint.TryParse(text, out var parsed) || parsed.Port == 0 && !text.EndsWith(":0", StringComparison.Ordinal))
        {
            return false;
        }

        endpoint = parsed;
        return true;
    }
}
