using Gateway.Grpc.Adapters;
using Gateway.Grpc.Server.Configuration;
using Polly;
using Polly.CircuitBreaker;

namespace Gateway.Grpc.Server.Dispatch;

/// <summary>
/// A deployment and its live state: in-flight count, latency statistics (EWMA and a window for
/// p95), and a Polly circuit breaker that opens on a failure ratio over a sampling window.
/// </summary>
internal sealed class DeploymentRuntime
{
    private const double EwmaAlpha = 0.2;
    private const int WindowSize = 128;

    private readonly Lock _lock = new();
    private readonly double[] _latencies = new double[WindowSize];
    private readonly double[] _firstTokens = new double[WindowSize];
    private readonly CircuitBreakerStateProvider? _circuitState;
    private int _latencyCount;
    private int _firstTokenCount;
    private double _latencyEwma = double.NaN;
    private double _firstTokenEwma = double.NaN;
    private int _inFlight;
    private long _openUntilTicks;
    private readonly TimeProvider _timeProvider;

    public DeploymentRuntime(DeploymentInfo info, IProviderAdapter adapter, DeploymentOptions options, CircuitBreakerOptions breaker, TimeProvider timeProvider, Action<DeploymentRuntime, CircuitState>? onCircuitChange)
    {
        Info = info;
        Adapter = adapter;
        _timeProvider = timeProvider;
        Weight = options.Weight;
        RequestsPerMinute = options.RequestsPerMinute;
        TokensPerMinute = options.TokensPerMinute;
        InputCostPerMillion = options.InputCostPerMillion;
        OutputCostPerMillion = options.OutputCostPerMillion;
        Capabilities = Routing.DeploymentCapabilities.FromOptions(options.Capabilities);
        MaxOutputTokens = options.MaxOutputTokens;
        // Typed on object (every attempt result is a reference): Polly runs the strategy directly,
        // without the bridge a non-generic pipeline puts around each generic call.
        var builder = new ResiliencePipelineBuilder<object> { TimeProvider = timeProvider, Name = "deployment:" + info.Name };
        if (breaker.Enabled)
        {
            _circuitState = new CircuitBreakerStateProvider();
            builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<object>
            {
                FailureRatio = breaker.FailureRatio,
                MinimumThroughput = breaker.MinimumThroughput,
                SamplingDuration = TimeSpan.FromMilliseconds(breaker.SamplingDurationMs),
                BreakDuration = TimeSpan.FromMilliseconds(breaker.BreakDurationMs),
                StateProvider = _circuitState,
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is ProviderException p && CountsAgainstHealth(p.Kind)),
                OnOpened = args =>
                {
                    Interlocked.Exchange(ref _openUntilTicks, (_timeProvider.GetUtcNow() + args.BreakDuration).UtcTicks);
                    onCircuitChange?.Invoke(this, CircuitState.Open);
                    return ValueTask.CompletedTask;
                },
                OnHalfOpened = args =>
                {
                    onCircuitChange?.Invoke(this, CircuitState.HalfOpen);
                    return ValueTask.CompletedTask;
                },
                OnClosed = args =>
                {
                    onCircuitChange?.Invoke(this, CircuitState.Closed);
                    return ValueTask.CompletedTask;
                },
            });
        }

        Circuit = builder.Build();
    }

    public DeploymentInfo Info { get; }

    public IProviderAdapter Adapter { get; }

    public int Weight { get; }

    /// <summary>What the deployment can take (vision, tools, json_schema); all when it declares nothing.</summary>
    public Routing.Capability Capabilities { get; }

    /// <summary>Largest max_tokens the deployment accepts; 0 = unknown.</summary>
    public int MaxOutputTokens { get; }

    /// <summary>True when the deployment can take a call that needs <paramref name="required"/> and <paramref name="maxTokens"/> output tokens.</summary>
    public bool Serves(Routing.Capability required, int maxTokens)
        => required == Routing.Capability.None
            || ((required & Routing.Capability.All & ~Capabilities) == 0
                && ((required & Routing.Capability.OutputLimit) == 0 || MaxOutputTokens == 0 || maxTokens <= MaxOutputTokens));

    /// <summary>The needs in <paramref name="required"/> this deployment does not meet.</summary>
    public Routing.Capability Missing(Routing.Capability required, int maxTokens)
    {
        var missing = required & Routing.Capability.All & ~Capabilities;
        if ((required & Routing.Capability.OutputLimit) != 0 && MaxOutputTokens > 0 && maxTokens > MaxOutputTokens)
        {
            missing |= Routing.Capability.OutputLimit;
        }

        return missing;
    }

    /// <summary>Tokens this deployment holds (its own window, else its model's); 0 = unknown.</summary>
    public int ContextWindow { get; init; }

    /// <summary>The provider's own limits for this deployment, kept by the gateway (null = none).</summary>
    public int? RequestsPerMinute { get; }

    public int? TokensPerMinute { get; }

    public double InputCostPerMillion { get; }

    public double OutputCostPerMillion { get; }

    /// <summary>Runs an attempt through this deployment's circuit breaker.</summary>
    public ResiliencePipeline<object> Circuit { get; }

    public CircuitState CircuitState => _circuitState?.CircuitState ?? CircuitState.Closed;

    /// <summary>
    /// True when an attempt may run outside the breaker and report its outcome afterwards
    /// (<see cref="ReportAsync"/>): the circuit is closed, or there is none. A closed circuit
    /// lets every call through, so asking first and reporting after is what Polly's own
    /// execution does, without a breaker execution (its context and state machines) held open
    /// for the whole upstream call. Any other state runs the attempt inside <see cref="Circuit"/>,
    /// so that Polly alone decides which call is the half-open probe.
    /// </summary>
    public bool ReportsAfter => _circuitState is null || _circuitState.CircuitState == CircuitState.Closed;

    /// <summary>
    /// Reports the outcome of an attempt that ran outside the breaker (<see cref="ReportsAfter"/>)
    /// through a breaker execution that only hands that outcome back, so Polly counts it and
    /// opens the circuit exactly as if the attempt had run inside. Reported only while the
    /// circuit is still closed: an outcome that arrives once it has opened (other calls broke it
    /// meanwhile) is ignored, as Polly ignores results that arrive while a circuit is open, and
    /// a half-open circuit is decided by its own probe.
    /// </summary>
    public ValueTask ReportAsync(Outcome<object> outcome)
    {
        if (_circuitState is null || _circuitState.CircuitState != CircuitState.Closed)
        {
            return ValueTask.CompletedTask;
        }

        // Held only for this synchronous execution, so the shared pool's few contexts suffice.
        var context = ResilienceContextPool.Shared.Get(CancellationToken.None);
        var pending = Circuit.ExecuteOutcomeAsync(static (_, reported) => ValueTask.FromResult(reported), context, outcome);
        if (pending.IsCompleted)
        {
            // The answer is the reported outcome, or a refusal when the circuit opened in between.
            _ = pending.Result;
            ResilienceContextPool.Shared.Return(context);
            return ValueTask.CompletedTask;
        }

        // Only when this outcome opens the circuit and the state-change handler runs later.
        return AwaitReportAsync(pending, context);

        static async ValueTask AwaitReportAsync(ValueTask<Outcome<object>> pending, ResilienceContext context)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
    }

    /// <summary>
    /// Open circuits are skipped until their break has elapsed; then the deployment is offered
    /// again so that Polly can let a half-open probe through.
    /// </summary>
    public bool IsAvailable => CircuitState switch
    {
        CircuitState.Isolated => false,
        CircuitState.Open => _timeProvider.GetUtcNow().UtcTicks >= Interlocked.Read(ref _openUntilTicks),
        _ => true,
    };

    public int InFlight => Volatile.Read(ref _inFlight);

    public void Enter() => Interlocked.Increment(ref _inFlight);

    public void Exit() => Interlocked.Decrement(ref _inFlight);

    /// <summary>EWMA of time to first token (streams), else of whole-call latency; NaN when untried.</summary>
    public double LatencyScoreMs
    {
        get
        {
            lock (_lock)
            {
                return double.IsNaN(_firstTokenEwma) ? _latencyEwma : _firstTokenEwma;
            }
        }
    }

    public void RecordLatency(TimeSpan latency) => Record(latency.TotalMilliseconds, _latencies, ref _latencyCount, ref _latencyEwma);

    public void RecordFirstToken(TimeSpan ttft) => Record(ttft.TotalMilliseconds, _firstTokens, ref _firstTokenCount, ref _firstTokenEwma);

    /// <summary>p95 of recent unary latencies or first-token times; null with fewer than 20 samples.</summary>
    public TimeSpan? P95(bool firstToken)
    {
        double[] copy;
        lock (_lock)
        {
            var count = Math.Min(firstToken ? _firstTokenCount : _latencyCount, WindowSize);
            if (count < 20)
            {
                return null;
            }

            copy = (firstToken ? _firstTokens : _latencies)[..count];
        }

        Array.Sort(copy);
        return TimeSpan.FromMilliseconds(copy[(int)Math.Ceiling(0.95 * copy.Length) - 1]);
    }

    private void Record(double ms, double[] window, ref int count, ref double ewma)
    {
        lock (_lock)
        {
            window[count % WindowSize] = ms;
            count++;
            ewma = double.IsNaN(ewma) ? ms : (EwmaAlpha * ms) + ((1 - EwmaAlpha) * ewma);
        }
    }

    /// <summary>Failures that say the deployment is unwell (not the caller's fault).</summary>
    public static bool CountsAgainstHealth(ProviderErrorKind kind) => kind is ProviderErrorKind.RateLimited
        or ProviderErrorKind.Overloaded
        or ProviderErrorKind.ServerError
        or ProviderErrorKind.Timeout
        or ProviderErrorKind.ConnectionFailure
        or ProviderErrorKind.StreamInterrupted;
}
