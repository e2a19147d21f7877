using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Gateway.Grpc.Observability.Metrics;

/// <summary>How a deployment's circuit breaker stands.</summary>
public enum CircuitStateKind
{
    Closed,
    Open,
    HalfOpen,
    Isolated,
}

/// <summary>One deployment's circuit state, read when metrics are collected.</summary>
public readonly record struct CircuitStateObservation(string Deployment, string Provider, CircuitStateKind State);

/// <summary>
/// The gateway's instruments (System.Diagnostics.Metrics, meter <c>Gateway.Grpc</c>) and one
/// method per thing worth counting. Methods take strings the caller already holds and build
/// tags in a stack <see cref="TagList"/>, after checking the instrument is listened to, so an
/// unobserved gateway pays a branch per call and nothing else.
/// </summary>
/// <remarks>
/// Prometheus names (see docs/OBSERVABILITY.md): dots become underscores, the unit is
/// appended (<c>s</c> → <c>_seconds</c>) and counters end in <c>_total</c>; for example
/// <c>gateway.requests</c> is <c>gateway_requests_total</c>.
/// </remarks>
public sealed class GatewayMetrics : IDisposable
{
    /// <summary>Whole-call and attempt latency buckets, seconds: LLM calls run from milliseconds (cache hits) to minutes.</summary>
    public static readonly IReadOnlyList<double> LatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300];

    /// <summary>Time-to-first-token buckets, seconds: finer below a second, where TTFT lives.</summary>
    public static readonly IReadOnlyList<double> FirstTokenBuckets = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60];

    private const string True = "true";
    private const string False = "false";

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _requestDuration;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Counter<long> _tokens;
    private readonly Counter<double> _cost;
    private readonly Counter<long> _attempts;
    private readonly Histogram<double> _attemptDuration;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _fallbacks;
    private readonly Counter<long> _hedges;
    private readonly Counter<long> _rateLimitRefusals;
    private readonly Counter<long> _budgetRefusals;
    private readonly Counter<long> _budgetAlerts;
    private readonly Counter<long> _rejected;
    private readonly UpDownCounter<long> _streamsInFlight;
    private readonly Counter<long> _accessLogDropped;
    private Func<IEnumerable<CircuitStateObservation>>? _circuitSource;

    public GatewayMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _meter = meterFactory.Create(GatewayTelemetryNames.MeterName, typeof(GatewayMetrics).Assembly.GetName().Version?.ToString(3));
        _requests = _meter.CreateCounter<long>("gateway.requests", "{request}", "Completed gateway calls, by route (grpc, rest), model, provider, final status and streaming.");
        _requestDuration = _meter.CreateHistogram("gateway.request.duration", "s", "Duration of gateway calls, from request to final status.", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _timeToFirstToken = _meter.CreateHistogram("gateway.time_to_first_token", "s", "Time from the request to the first output event sent to the caller (streams).", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = FirstTokenBuckets });
        _tokens = _meter.CreateCounter<long>("gateway.tokens", "{token}", "Tokens consumed, by model, provider, team and type (input, output).");
        _cost = _meter.CreateCounter<double>("gateway.cost.usd", "{USD}", "Cost of served calls in US dollars, by model, provider and team.");
        _attempts = _meter.CreateCounter<long>("gateway.attempts", "{attempt}", "Upstream attempts, by deployment, provider, outcome (success, failed, cancelled) and error class.");
        _attemptDuration = _meter.CreateHistogram("gateway.attempt.duration", "s", "Duration of upstream attempts (streams: until the stream ended).", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _retries = _meter.CreateCounter<long>("gateway.retries", "{retry}", "Retries within a model group, by model and the error that caused them.");
        _fallbacks = _meter.CreateCounter<long>("gateway.fallbacks", "{fallback}", "Moves to a fallback model, by model, fallback model and reason.");
        _hedges = _meter.CreateCounter<long>("gateway.hedges", "{hedge}", "Hedged attempts started, by model and deployment.");
        _rateLimitRefusals = _meter.CreateCounter<long>("gateway.rate_limit.refusals", "{request}", "Calls refused by a rate limit, by team and limit.");
        _budgetRefusals = _meter.CreateCounter<long>("gateway.budget.refusals", "{request}", "Calls refused because a budget is spent, by team and budget.");
        _budgetAlerts = _meter.CreateCounter<long>("gateway.budget.alerts", "{alert}", "Budget alerts raised, by scope kind (key, team) and threshold percent.");
        _streamsInFlight = _meter.CreateUpDownCounter<long>("gateway.streams.in_flight", "{stream}", "Streams open now, by model.");
        _rejected = _meter.CreateCounter<long>("gateway.requests.rejected", "{request}", "gRPC requests answered before reaching a handler (unknown method, malformed or oversized message...), by method and status.");
        _accessLogDropped = _meter.CreateCounter<long>("gateway.access_log.dropped", "{line}", "Access-log lines dropped because the sink fell behind.");
        _meter.CreateObservableGauge("gateway.circuit.state", ObserveCircuits, "{state}", "Circuit breaker state per deployment: 1 for the current state, 0 for the others.");
    }

    /// <summary>The meter, for tests and exporters.</summary>
    public Meter Meter => _meter;

    /// <summary>One finished call.</summary>
    public void RecordRequest(string route, string model, string provider, string status, bool stream, TimeSpan duration)
    {
        if (!_requests.Enabled && !_requestDuration.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { "route", route },
            { "model", model },
            { "provider", provider },
            { "status", status },
            { "stream", stream ? True : False },
        };
        _requests.Add(1, tags);
        _requestDuration.Record(duration.TotalSeconds, tags);
    }

    public void RecordTimeToFirstToken(string route, string model, string provider, TimeSpan ttft)
    {
        if (_timeToFirstToken.Enabled)
        {
            _timeToFirstToken.Record(ttft.TotalSeconds, new TagList { { "route", route }, { "model", model }, { "provider", provider } });
        }
    }

    /// <summary>Tokens of a served call (team may be null before governance exists).</summary>
    public void RecordTokens(string model, string provider, string? team, long inputTokens, long outputTokens)
    {
        if (!_tokens.Enabled)
        {
            return;
        }

        if (inputTokens > 0)
        {
            _tokens.Add(inputTokens, new TagList { { "model", model }, { "provider", provider }, { "team", team ?? "" }, { "type", "input" } });
        }

        if (outputTokens > 0)
        {
            _tokens.Add(outputTokens, new TagList { { "model", model }, { "provider", provider }, { "team", team ?? "" }, { "type", "output" } });
        }
    }

    public void RecordCost(string model, string provider, string? team, double usd)
    {
        if (usd > 0 && _cost.Enabled)
        {
            _cost.Add(usd, new TagList { { "model", model }, { "provider", provider }, { "team", team ?? "" } });
        }
    }

    /// <summary>One upstream attempt ended; <paramref name="error"/> is the normalized error class or null.</summary>
    public void RecordAttempt(string deployment, string provider, string outcome, string? error, TimeSpan duration)
    {
        if (_attempts.Enabled)
        {
            _attempts.Add(1, new TagList { { "deployment", deployment }, { "provider", provider }, { "outcome", outcome }, { "error", error ?? "" } });
        }

        if (_attemptDuration.Enabled)
        {
            _attemptDuration.Record(duration.TotalSeconds, new TagList { { "deployment", deployment }, { "provider", provider }, { "outcome", outcome } });
        }
    }

    public void RecordRetry(string model, string reason)
    {
        if (_retries.Enabled)
        {
            _retries.Add(1, new TagList { { "model", model }, { "reason", reason } });
        }
    }

    public void RecordFallback(string model, string fallbackModel, string reason)
    {
        if (_fallbacks.Enabled)
        {
            _fallbacks.Add(1, new TagList { { "model", model }, { "fallback_model", fallbackModel }, { "reason", reason } });
        }
    }

    public void RecordHedge(string model, string deployment)
    {
        if (_hedges.Enabled)
        {
            _hedges.Add(1, new TagList { { "model", model }, { "deployment", deployment } });
        }
    }

    /// <summary>A call refused by a rate limit; <paramref name="limit"/> names it (rpm, tpm, concurrency...).</summary>
    public void RecordRateLimitRefusal(string? team, string limit)
    {
        if (_rateLimitRefusals.Enabled)
        {
            _rateLimitRefusals.Add(1, new TagList { { "team", team ?? "" }, { "limit", limit } });
        }
    }

    /// <summary>A call refused because a budget is spent; <paramref name="budget"/> names it (daily, monthly...).</summary>
    public void RecordBudgetRefusal(string? team, string budget)
    {
        if (_budgetRefusals.Enabled)
        {
            _budgetRefusals.Add(1, new TagList { { "team", team ?? "" }, { "budget", budget } });
        }
    }

    /// <summary>
    /// A gRPC request answered without reaching its handler. <paramref name="method"/> is a
    /// registered method's full name or null (shown as <c>unknown</c>, so callers cannot mint series).
    /// </summary>
    public void RecordRejectedCall(string? method, string status)
    {
        if (_rejected.Enabled)
        {
            _rejected.Add(1, new TagList { { "method", method ?? "unknown" }, { "status", status } });
        }
    }

    /// <summary>A budget crossed 50, 80 or 100 % of its monthly amount (each fires once per scope and month).</summary>
    public void RecordBudgetAlert(string scopeKind, int thresholdPercent)
    {
        if (_budgetAlerts.Enabled)
        {
            _budgetAlerts.Add(1, new TagList { { "scope", scopeKind }, { "threshold", thresholdPercent.ToString(System.Globalization.CultureInfo.InvariantCulture) } });
        }
    }

    public void StreamStarted(string model)
    {
        if (_streamsInFlight.Enabled)
        {
            _streamsInFlight.Add(1, new TagList { { "model", model } });
        }
    }

    public void StreamEnded(string model)
    {
        if (_streamsInFlight.Enabled)
        {
            _streamsInFlight.Add(-1, new TagList { { "model", model } });
        }
    }

    public void RecordAccessLogDropped() => _accessLogDropped.Add(1);

    /// <summary>Where the circuit-state gauge reads from (the dispatcher's deployments); called at each collection.</summary>
    public void SetCircuitStateSource(Func<IEnumerable<CircuitStateObservation>> source) => _circuitSource = source;

    private IEnumerable<Measurement<int>> ObserveCircuits()
    {
        if (_circuitSource is not { } source)
        {
            yield break;
        }

        foreach (var observation in source())
        {
            for (var state = CircuitStateKind.Closed; state <= CircuitStateKind.Isolated; state++)
            {
                yield return new Measurement<int>(
                    observation.State == state ? 1 : 0,
                    new KeyValuePair<string, object?>("deployment", observation.Deployment),
                    new KeyValuePair<string, object?>("provider", observation.Provider),
                    new KeyValuePair<string, object?>("state", StateName(state)));
            }
        }
    }

    private static string StateName(CircuitStateKind state) => state switch
    {
        CircuitStateKind.Open => "open",
        CircuitStateKind.HalfOpen => "half_open",
        CircuitStateKind.Isolated => "isolated",
        _ => "closed",
    };

    public void Dispose() => _meter.Dispose();
}
