using System.Net;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Adapters.Configuration;
using Gateway.Grpc.Adapters.Secrets;
using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Server.Dispatch;
using Microsoft.Extensions.Options;

namespace Gateway.Grpc.Server.Configuration;

/// <summary>
/// The gateway's options validator as the options system knows it (registered with
/// <c>ValidateOnStart</c>): the checks of <see cref="GatewayOptionsValidator"/> plus each built-in
/// provider's deployment settings. Every failure names the key and the fix.
/// </summary>
internal sealed class GatewayOptionsValidation(IReadOnlyCollection<string> knownProviders, ISecretResolver secrets) : IValidateOptions<GatewayOptions>
{
    /// <summary>The resolver secret references are checked with: the process's one, also the injected ISecretResolver.</summary>
    internal ISecretResolver Secrets => secrets;

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = GatewayOptionsValidator.Validate(options, knownProviders);
        for (var i = 0; i < options.Models.Count; i++)
        {
            for (var j = 0; j < options.Models[i].Deployments.Count; j++)
            {
                var deployment = options.Models[i].Deployments[j];
                if (ProviderNames.All.Contains(deployment.Provider))
                {
                    foreach (var error in AdapterSettingsValidator.Validate(deployment.Provider, deployment.Settings, secrets))
                    {
                        errors.Add($"models:{i}:deployments:{j}:{error}");
                    }
                }
            }
        }

        errors.AddRange(CacheOptionsValidator.Validate(options.Cache, options.Models.ConvertAll(static m => m.Name)));
        errors.AddRange(Gateway.Grpc.Console.Configuration.ConsoleOptions.Validate(options.Console, !string.IsNullOrEmpty(options.Auth.MasterKey), GatewayOptionsValidator.IsLoopback(options.HttpAddress)));
        if (options.Audit.HmacKey is { Length: > 0 } auditKey)
        {
            try
            {
                _ = secrets.Resolve(auditKey);
            }
            catch (SecretResolutionException ex)
            {
                errors.Add($"audit:hmacKey: {ex.Message}");
            }
        }

        return errors.Count > 0 ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}

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

        if (options.Shutdown.DrainDelaySeconds is < 0 or > 300)
        {
            errors.Add($"shutdown:drainDelaySeconds: {options.Shutdown.DrainDelaySeconds} must be between 0 and 300.");
        }

        if (options.Shutdown.GracePeriodSeconds is < 0 or > 3600)
        {
            errors.Add($"shutdown:gracePeriodSeconds: {options.Shutdown.GracePeriodSeconds} must be between 0 and 3600.");
        }

        var tls = options.Tls;
        if (tls.Enabled)
        {
            foreach (var (key, path) in new[] { ("tls:certificateFile", tls.CertificateFile), ("tls:keyFile", tls.KeyFile), ("tls:clientCaFile", tls.ClientCaFile) })
            {
                if (key != "tls:clientCaFile" && string.IsNullOrEmpty(path))
                {
                    errors.Add($"{key}: missing; TLS needs both tls:certificateFile and tls:keyFile (PEM files).");
                }
                else if (!string.IsNullOrEmpty(path) && !File.Exists(path))
                {
                    errors.Add($"{key}: '{path}' does not exist; give the path of a PEM file.");
                }
            }
        }
        else if (!string.IsNullOrEmpty(tls.ClientCaFile))
        {
            errors.Add("tls:clientCaFile: mutual TLS needs TLS; set tls:certificateFile and tls:keyFile too.");
        }

        if (tls.ClientCertificateMode is not ("require" or "allow"))
        {
            errors.Add($"tls:clientCertificateMode: '{tls.ClientCertificateMode}' is not a mode; use require or allow.");
        }

        if (tls.ReloadIntervalSeconds < 1)
        {
            errors.Add($"tls:reloadIntervalSeconds: {tls.ReloadIntervalSeconds} must be 1 or more.");
        }

        if (options.GrpcAddress == options.HttpAddress && !options.GrpcAddress.EndsWith(":0", StringComparison.Ordinal))
        {
            errors.Add("httpAddress: must differ from grpcAddress (gRPC needs an HTTP/2-only port).");
        }

        var limits = options.RequestLimits;
        if (limits.MaxBodyBytes is < 1024)
        {
            errors.Add($"requestLimits:maxBodyBytes: must be at least 1024 bytes, got {limits.MaxBodyBytes} (unset = 4 x maxReceiveMessageSize).");
        }

        CheckPositive(errors, "requestLimits:maxMessages", limits.MaxMessages);
        CheckPositive(errors, "requestLimits:maxPromptChars", limits.MaxPromptChars);
        CheckPositive(errors, "requestLimits:maxTools", limits.MaxTools);
        CheckPositive(errors, "requestLimits:maxMetadataEntries", limits.MaxMetadataEntries);
        if (limits.MaxHeaderBytes < 4096)
        {
            errors.Add($"requestLimits:maxHeaderBytes: must be at least 4096 bytes, got {limits.MaxHeaderBytes}.");
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

        if (options.TokenizerIdleSeconds < 0)
        {
            errors.Add($"tokenizerIdleSeconds: must be 0 (keep the vocabularies loaded) or a number of seconds, got {options.TokenizerIdleSeconds}.");
        }

        if (options.MaxStreamsPerConnection <= 0)
        {
            errors.Add($"maxStreamsPerConnection: must be positive, got {options.MaxStreamsPerConnection}.");
        }

        if (options.Auth.MasterKey is { } master && !SecretReference.IsReference(master))
        {
            errors.Add("auth:masterKey: must be a secret reference (env:NAME or file:/path), never the key itself.");
        }

        if (options.Auth.Jwt is { } jwt)
        {
            ValidateJwt(errors, jwt);
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

        if (options.Budgets.ReservationTtlSeconds < 1)
        {
            errors.Add("budgets:reservationTtlSeconds: must be at least 1 (longer than your longest call).");
        }

        if (options.Budgets.ReconcileSeconds < 1)
        {
            errors.Add("budgets:reconcileSeconds: must be at least 1.");
        }

        if (options.Store.LedgerCommitWaitMs < 0)
        {
            errors.Add("store:ledgerCommitWaitMs: must not be negative (0 = do not wait).");
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

            if (model.Deployments.Count == 0 && model.Kind == ModelKinds.Deployments)
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

                if (deployment.ContextWindow < 0)
                {
                    errors.Add($"{dkey}:contextWindow: must not be negative (0 = unknown; unset = the model's).");
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
        SmartRoutingOptionsValidator.Validate(options, errors);
        return errors;
    }

    private static void ValidateJwt(List<string> errors, JwtOptions jwt)
    {
        if (string.IsNullOrWhiteSpace(jwt.Issuer))
        {
            errors.Add("auth:jwt:issuer: is required: the exact 'iss' your identity provider puts in its tokens (e.g. https://login.example.com/realms/main).");
        }

        if (string.IsNullOrWhiteSpace(jwt.Audience) && !jwt.Audiences.Any(static a => !string.IsNullOrWhiteSpace(a)))
        {
            errors.Add("auth:jwt:audience: is required (or auth:jwt:audiences): the 'aud' value tokens meant for this gateway carry.");
        }

        switch (jwt.Jwks)
        {
            case null or "":
                errors.Add("auth:jwt:jwks: is required: file:/path/to/jwks.json or the issuer's JWKS URL (https://.../jwks).");
                break;
            case var source when source.StartsWith("file:", StringComparison.Ordinal):
                var path = source["file:".Length..];
                if (!File.Exists(path))
                {
                    errors.Add($"auth:jwt:jwks: file '{path}' does not exist; write the issuer's JSON Web Key Set there or give its URL.");
                    break;
                }

                try
                {
                    _ = JwksSnapshot.Parse(File.ReadAllText(path));
                }
                catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
                {
                    errors.Add($"auth:jwt:jwks: file '{path}' cannot be used: {ex.Message}");
                }

                break;
            case var source when Uri.TryCreate(source, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback)):
                break;
            case var source when Uri.TryCreate(source, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp:
                errors.Add($"auth:jwt:jwks: '{source}' is plain http to a remote host; signing keys must come over https (http is allowed on loopback only).");
                break;
            case var source:
                errors.Add($"auth:jwt:jwks: '{source}' is neither file:/path nor an http(s) URL.");
                break;
        }

        if (jwt.ClockSkewSeconds is < 0 or > 300)
        {
            errors.Add($"auth:jwt:clockSkewSeconds: must be 0-300, got {jwt.ClockSkewSeconds}.");
        }

        if (jwt.RefreshMinutes < 1)
        {
            errors.Add($"auth:jwt:refreshMinutes: must be at least 1, got {jwt.RefreshMinutes}.");
        }

        if (jwt.MinRefreshSeconds is < 0 or > 3600)
        {
            errors.Add($"auth:jwt:minRefreshSeconds: must be 0-3600, got {jwt.MinRefreshSeconds}.");
        }

        if (string.IsNullOrWhiteSpace(jwt.SubjectClaim))
        {
            errors.Add("auth:jwt:subjectClaim: must name a claim (default sub).");
        }

        if (jwt.TeamClaim is { } teamClaim && string.IsNullOrWhiteSpace(teamClaim))
        {
            errors.Add("auth:jwt:teamClaim: must name a claim, or be left out.");
        }

        if (jwt.ModelsClaim is { } modelsClaim && string.IsNullOrWhiteSpace(modelsClaim))
        {
            errors.Add("auth:jwt:modelsClaim: must name a claim, or be left out.");
        }

        for (var i = 0; i < jwt.Algorithms.Count; i++)
        {
            if (!JwtSettings.AsymmetricAlgorithms.Contains(jwt.Algorithms[i], StringComparer.Ordinal))
            {
                errors.Add($"auth:jwt:algorithms:{i}: '{jwt.Algorithms[i]}' is not accepted; use asymmetric algorithms ({string.Join(", ", JwtSettings.AsymmetricAlgorithms)}).");
            }
        }
    }

    private static void CheckPositive(List<string> errors, string key, int value)
    {
        if (value < 1)
        {
            errors.Add($"{key}: must be at least 1, got {value}.");
        }
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

    /// <summary>Whether a host:port address binds only loopback.</summary>
    public static bool IsLoopback(string address) => TryParseEndpoint(address, out var endpoint) && IPAddress.IsLoopback(endpoint.Address);

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
