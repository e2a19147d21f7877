using System.Collections.Frozen;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Server.Configuration;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Gateway.Grpc.Server.Dispatch;

/// <summary>A public model name, its deployments, and its routing, retry, fallback and hedging policy.</summary>
internal sealed class ModelGroup
{
    private int _next = -1;

    public ModelGroup(ModelOptions options, DeploymentRuntime[] deployments, TimeProvider timeProvider)
    {
        Options = options;
        Name = options.Name;
        OwnedBy = options.OwnedBy ?? (options.Deployments.Count > 0 ? options.Deployments[0].Provider : "gateway");
        Kind = options.Kind switch
        {
            Configuration.ModelKinds.Router => ModelKind.Router,
            Configuration.ModelKinds.Cascade => ModelKind.Cascade,
            _ => ModelKind.Deployments,
        };
        Deployments = deployments;
        // A model that only sets per-deployment windows advertises the largest.
        ContextWindow = options.ContextWindow > 0 ? options.ContextWindow : deployments.Length == 0 ? 0 : deployments.Max(static d => d.ContextWindow);
        Strategy = options.Strategy.ToLowerInvariant();
        RetryBudget = new RetryBudget(options.Retry.BudgetRatio, options.Retry.BudgetMinPerSecond, timeProvider);
        var retry = options.Retry;
        // Typed on object: Polly runs the retry strategy directly, without a bridge per call.
        var builder = new ResiliencePipelineBuilder<object> { TimeProvider = timeProvider, Name = "model:" + Name };
        if (Retries)
        {
            builder.AddRetry(new RetryStrategyOptions<object>
            {
                MaxRetryAttempts = retry.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(retry.BaseDelayMs),
                MaxDelay = TimeSpan.FromMilliseconds(retry.MaxDelayMs),
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome.Exception, args.Context, args.AttemptNumber)),
                DelayGenerator = args => ValueTask.FromResult(RetryAfterDelay(args.Outcome.Exception)),
                OnRetry = args =>
                {
                    if (args.Context.Properties.TryGetValue(CallState.Key, out var state))
                    {
                        state.Telemetry.Retry(Name, (args.Outcome.Exception as ProviderException)?.KindName ?? "unknown");
                    }

                    return ValueTask.CompletedTask;
                },
            });
        }

        RetryPipeline = builder.Build();
    }

    public ModelOptions Options { get; }

    /// <summary>Served by its deployments, or a router or cascade over other groups.</summary>
    public ModelKind Kind { get; }

    /// <summary>True when some deployment can take a call with these needs.</summary>
    public bool CanServe(Routing.Capability needs, int maxTokens)
    {
        foreach (var d in Deployments)
        {
            if (d.Serves(needs, maxTokens))
            {
                return true;
            }
        }

        return false;
    }

    public string Name { get; }

    public string OwnedBy { get; }

    /// <summary>The model's context window in tokens (shown in ListModels); 0 = unknown. Deployments may differ: <see cref="DeploymentRuntime.ContextWindow"/>.</summary>
    public int ContextWindow { get; }

    public string Strategy { get; }

    public DeploymentRuntime[] Deployments { get; }

    public RetryBudget RetryBudget { get; }

    /// <summary>True when the group retries (more than one attempt per call).</summary>
    public bool Retries => Options.Retry.MaxAttempts > 1;

    /// <summary>Polly retry over attempts; each attempt picks a deployment afresh.</summary>
    public ResiliencePipeline<object> RetryPipeline { get; }

    public int NextRoundRobin() => Interlocked.Increment(ref _next);

    public DeploymentRuntime? Find(string name)
    {
        foreach (var d in Deployments)
        {
            if (d.Info.Name == name)
            {
                return d;
            }
        }

        return null;
    }

    private bool ShouldRetry(Exception? exception, ResilienceContext context, int attemptNumber)
    {
        if (exception is not ProviderException error || !IsRetryable(error.Kind))
        {
            return false;
        }

        if (error.RetryAfter is { } retryAfter && retryAfter > TimeSpan.FromMilliseconds(Options.Retry.MaxRetryAfterMs))
        {
            // Waiting that long is worse than a fallback.
            return false;
        }

        if (context.Properties.TryGetValue(CallState.Key, out var state))
        {
            var wait = error.RetryAfter ?? TimeSpan.FromMilliseconds(Options.Retry.BaseDelayMs * Math.Pow(2, attemptNumber));
            if (!state.HasBudgetFor(wait + TimeSpan.FromMilliseconds(Options.Timeouts.MinAttemptBudgetMs)))
            {
                return false;
            }
        }

        return RetryBudget.TryAcquireRetry();
    }

    private TimeSpan? RetryAfterDelay(Exception? exception)
        => exception is ProviderException { RetryAfter: { } retryAfter }
            ? TimeSpan.FromMilliseconds(Math.Min(retryAfter.TotalMilliseconds, Options.Retry.MaxRetryAfterMs))
            : null;

    /// <summary>Errors worth another attempt in the same group.</summary>
    public static bool IsRetryable(ProviderErrorKind kind) => kind is ProviderErrorKind.RateLimited
        or ProviderErrorKind.Overloaded
        or ProviderErrorKind.ServerError
        or ProviderErrorKind.Timeout
        or ProviderErrorKind.ConnectionFailure
        or ProviderErrorKind.StreamInterrupted;
}

internal enum ModelKind
{
    Deployments,
    Router,
    Cascade,
}

/// <summary>The models the gateway serves, built once from configuration.</summary>
internal sealed partial class ModelCatalog
{
    private readonly Dictionary<string, ModelGroup> _groups;
    private readonly FrozenDictionary<string, DeploymentRuntime> _deployments;

    public ModelCatalog(GatewayOptions options, IEnumerable<IProviderAdapter> adapters, TimeProvider timeProvider, Services.DeploymentHealth health, ILogger<ModelCatalog> logger)
    {
        var byProvider = adapters.ToDictionary(a => a.Provider, StringComparer.Ordinal);
        _groups = new Dictionary<string, ModelGroup>(StringComparer.Ordinal);
        void OnCircuitChange(DeploymentRuntime deployment, CircuitState state)
        {
            Log.CircuitChanged(logger, deployment.Info.Name, state);
            health.Report(deployment.Info.Name, state is not (CircuitState.Open or CircuitState.Isolated));
        }

        foreach (var model in options.Models)
        {
            var deployments = model.Deployments
                .Select(d =>
                {
                    var info = new DeploymentInfo(d.Name, d.Provider, string.IsNullOrEmpty(d.UpstreamModel) ? model.Name : d.UpstreamModel)
                    {
                        Settings = new Dictionary<string, string>(d.Settings, StringComparer.OrdinalIgnoreCase),
                    };
                    health.Report(d.Name, serving: true);
                    return new DeploymentRuntime(info, byProvider[d.Provider], d, model.CircuitBreaker, timeProvider, OnCircuitChange)
                    {
                        ContextWindow = d.ContextWindow ?? model.ContextWindow,
                    };
                })
                .ToArray();
            _groups[model.Name] = new ModelGroup(model, deployments, timeProvider);
        }

        Names = _groups.Keys.Order(StringComparer.Ordinal).ToArray();
        // Capability checks cost nothing unless some deployment declares capabilities or an output limit.
        DeclaresCapabilities = options.Models.Exists(static m => m.Deployments.Exists(static d => d.Capabilities is not null));
        DeclaresOutputLimits = options.Models.Exists(static m => m.Deployments.Exists(static d => d.MaxOutputTokens > 0));
        // Deployment names are unique across groups (the options validator checks it).
        _deployments = _groups.Values.SelectMany(static g => g.Deployments).ToFrozenDictionary(static d => d.Info.Name, StringComparer.Ordinal);
    }

    public IReadOnlyList<string> Names { get; }

    /// <summary>Some deployment lists its capabilities (requests must then be matched to them).</summary>
    public bool DeclaresCapabilities { get; }

    /// <summary>Some deployment has a maxOutputTokens.</summary>
    public bool DeclaresOutputLimits { get; }

    public IEnumerable<ModelGroup> Groups => Names.Select(n => _groups[n]);

    public bool TryGet(string name, out ModelGroup group) => _groups.TryGetValue(name, out group!);

    /// <summary>A deployment by its name, whichever group it is in; null for an unknown or empty name.</summary>
    public DeploymentRuntime? FindDeployment(string name) => _deployments.GetValueOrDefault(name);

    private static partial class Log
    {
        [LoggerMessage(200, LogLevel.Warning, "Circuit of deployment {Deployment} is now {State}.", EventName = "CircuitChanged")]
        public static partial void CircuitChanged(ILogger logger, string deployment, CircuitState state);
    }
}

/// <summary>
/// What the pre-dispatch context-window check decided for a call: the tokens it needs of a
/// window (prompt + max_tokens; 0 when the prompt fits every window and was not counted) and
/// whether the group it runs on is a <c>contextFallbacks</c> model rather than the requested one.
/// </summary>
internal readonly record struct ContextFit(int Tokens, bool Fallback)
{
    /// <summary>What the call needs of a deployment (vision, tools, ...); <see cref="Routing.Capability.None"/> for most calls.</summary>
    public Routing.Capability Needs { get; init; }

    public static ContextFit None => default;
}
