using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gateway.Grpc.Observability.Tracing;

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
/// <para>
/// Two families side by side: the OpenTelemetry GenAI semantic-convention instruments
/// (<c>gen_ai.*</c>, development status; the generation with <c>gen_ai.provider.name</c>), which
/// dashboards built for any GenAI client or model server understand, and the gateway's own
/// (<c>gateway.*</c>), which carry what the conventions have no words for: routes, deployments,
/// retries, fallbacks, hedges, cost, refusals, circuit states. The gateway plays both GenAI roles:
/// to its callers it is the model server (<c>gen_ai.server.*</c>, one measurement per call), to
/// the providers it is the client (<c>gen_ai.client.operation.duration</c>, one per upstream
/// attempt; <c>gen_ai.client.token.usage</c>, the billed tokens of each served call).
/// </para>
/// <para>
/// Prometheus names (the OpenTelemetry exporter, see docs/OBSERVABILITY.md): dots become
/// underscores, the unit is appended (<c>s</c> → <c>_seconds</c>, <c>{…}</c> annotations are
/// dropped) and counters end in <c>_total</c>; for example <c>gateway.requests</c> is
/// <c>gateway_requests_total</c>. Tags whose value is empty are left out rather than exported
/// as <c>label=""</c> (Prometheus treats the two alike; the OTLP view stays clean).
/// </para>
/// </remarks>
public sealed class GatewayMetrics : IDisposable
{
    /// <summary>Whole-call and attempt latency buckets, seconds: LLM calls run from milliseconds (cache hits) to minutes.</summary>
    public static readonly IReadOnlyList<double> LatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300];

    /// <summary>Time-to-first-token buckets, seconds: finer below a second, where TTFT lives.</summary>
    public static readonly IReadOnlyList<double> FirstTokenBuckets = [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60];

    /// <summary><c>gen_ai.client.token.usage</c> buckets, as the GenAI metrics conventions recommend (powers of 4).</summary>
    public static readonly IReadOnlyList<long> GenAiTokenBuckets = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

    /// <summary><c>gen_ai.client.operation.duration</c> and <c>gen_ai.server.request.duration</c> buckets, seconds (the conventions' doubling series).</summary>
    public static readonly IReadOnlyList<double> GenAiDurationBuckets = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

    /// <summary><c>gen_ai.server.time_to_first_token</c> buckets, seconds, as the conventions recommend.</summary>
    public static readonly IReadOnlyList<double> GenAiFirstTokenBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

    /// <summary><c>gen_ai.server.time_per_output_token</c> buckets, seconds, as the conventions recommend.</summary>
    public static readonly IReadOnlyList<double> GenAiPerTokenBuckets = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5];

    private const string True = "true";
    private const string False = "false";
    private const string Ok = "OK";
    private const string Success = "success";

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
    private readonly Counter<long> _guardrails;
    private readonly Histogram<long> _genAiTokenUsage;
    private readonly Histogram<double> _genAiClientDuration;
    private readonly Histogram<double> _genAiServerDuration;
    private readonly Histogram<double> _genAiTimeToFirstToken;
    private readonly Histogram<double> _genAiTimePerOutputToken;
    private Func<IEnumerable<CircuitStateObservation>>? _circuitSource;
    private Func<long>? _auditHeadSource;

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
        _guardrails = _meter.CreateCounter<long>("gateway.guardrail.triggered", "{trigger}", "Guardrail rules that fired, by rule, action (flag, mask, redact, block), direction (input, output) and model.");
        _accessLogDropped = _meter.CreateCounter<long>("gateway.access_log.dropped", "{line}", "Access-log lines dropped because the sink fell behind.");
        _meter.CreateObservableGauge("gateway.circuit.state", ObserveCircuits, "{state}", "Circuit breaker state per deployment: 1 for the current state, 0 for the others.");
        _meter.CreateObservableGauge("gateway.audit.head.sequence", ObserveAuditHead, "{entry}", "Sequence number of the audit trail's newest entry: a later value lower than an earlier one means the trail was truncated.");

        // OpenTelemetry GenAI semantic conventions (docs/gen-ai/gen-ai-metrics.md): names, units and
        // the recommended explicit bucket boundaries, given as advice so every exporter uses them.
        _genAiTokenUsage = _meter.CreateHistogram("gen_ai.client.token.usage", "{token}", "Number of input and output tokens used, per served call (billed usage of the answering provider).", tags: null, advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = GenAiTokenBuckets });
        _genAiClientDuration = _meter.CreateHistogram("gen_ai.client.operation.duration", "s", "GenAI operation duration: the gateway's upstream attempts against providers (streams: until the stream ended).", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GenAiDurationBuckets });
        _genAiServerDuration = _meter.CreateHistogram("gen_ai.server.request.duration", "s", "GenAI server request duration: gateway calls, from request to the last output and final status.", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GenAiDurationBuckets });
        _genAiTimeToFirstToken = _meter.CreateHistogram("gen_ai.server.time_to_first_token", "s", "Time from the request to the first output token sent to the caller (streams).", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GenAiFirstTokenBuckets });
        _genAiTimePerOutputToken = _meter.CreateHistogram("gen_ai.server.time_per_output_token", "s", "Time per output token after the first, for successful streams: (duration - time to first token) / (output tokens - 1).", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GenAiPerTokenBuckets });
    }

    /// <summary>The meter, for tests and exporters.</summary>
    public Meter Meter => _meter;

    /// <summary>
    /// One finished call: <c>gateway.requests</c>, <c>gateway.request.duration</c>,
    /// <c>gen_ai.server.request.duration</c> and, for a successful stream,
    /// <c>gen_ai.server.time_per_output_token</c>.
    /// </summary>
    /// <param name="provider">Provider kind of the deployment that answered; empty when none did.</param>
    /// <param name="status">gRPC status name (<c>OK</c>, <c>NOT_FOUND</c>...).</param>
    /// <param name="errorType">Normalized error class of a failed call (<c>error.type</c>); the status name in lower case when null.</param>
    /// <param name="responseModel">The provider's model that answered (<c>gen_ai.response.model</c>), if any.</param>
    /// <param name="timeToFirstToken">Request to first output sent (streams), if any was sent.</param>
    /// <param name="outputTokens">Output tokens of the call (for the time per output token).</param>
    public void RecordRequest(string route, string model, string provider, string status, bool stream, TimeSpan duration, string? errorType = null, string? responseModel = null, TimeSpan? timeToFirstToken = null, long outputTokens = 0)
    {
        if (_requests.Enabled || _requestDuration.Enabled)
        {
            var tags = new TagList
            {
                { "route", route },
                { "model", model },
                { "status", status },
                { "stream", stream ? True : False },
            };
            AddIfPresent(ref tags, "provider", provider);
            _requests.Add(1, tags);
            _requestDuration.Record(duration.TotalSeconds, tags);
        }

        var ok = status == Ok;
        if (_genAiServerDuration.Enabled)
        {
            var tags = GenAiTags(model, provider, responseModel);
            if (!ok)
            {
                // As on the call span: the error class, else the status name in lower case.
                tags.Add(GatewaySpanAttributes.ErrorType, errorType ?? status.ToLowerInvariant());
            }

            _genAiServerDuration.Record(duration.TotalSeconds, tags);
        }

        // Semconv: "measured by subtracting the time taken to generate the first output token from
        // the request duration and dividing the rest of the duration by the number of output
        // tokens generated after the first token", for successful responses.
        if (ok && outputTokens > 1 && timeToFirstToken is { } ttft && duration > ttft && _genAiTimePerOutputToken.Enabled)
        {
            _genAiTimePerOutputToken.Record((duration - ttft).TotalSeconds / (outputTokens - 1), GenAiTags(model, provider, responseModel));
        }
    }

    /// <summary>The first output of a call reached the caller: <c>gateway.time_to_first_token</c> and <c>gen_ai.server.time_to_first_token</c>.</summary>
    public void RecordTimeToFirstToken(string route, string model, string provider, TimeSpan ttft)
    {
        if (_timeToFirstToken.Enabled)
        {
            var tags = new TagList { { "route", route }, { "model", model } };
            AddIfPresent(ref tags, "provider", provider);
            _timeToFirstToken.Record(ttft.TotalSeconds, tags);
        }

        if (_genAiTimeToFirstToken.Enabled)
        {
            _genAiTimeToFirstToken.Record(ttft.TotalSeconds, GenAiTags(model, provider, responseModel: null));
        }
    }

    /// <summary>
    /// Tokens of a served call (team may be null before governance exists):
    /// <c>gateway.tokens</c> and <c>gen_ai.client.token.usage</c> (<c>gen_ai.token.type</c> input, output).
    /// </summary>
    /// <param name="responseModel">The provider's model that answered (<c>gen_ai.response.model</c>), if known.</param>
    public void RecordTokens(string model, string provider, string? team, long inputTokens, long outputTokens, string? responseModel = null)
    {
        if (_tokens.Enabled)
        {
            if (inputTokens > 0)
            {
                _tokens.Add(inputTokens, TokenTags(model, provider, team, "input"));
            }

            if (outputTokens > 0)
            {
                _tokens.Add(outputTokens, TokenTags(model, provider, team, "output"));
            }
        }

        if (_genAiTokenUsage.Enabled)
        {
            if (inputTokens > 0)
            {
                var tags = GenAiTags(model, provider, responseModel);
                tags.Add(GatewaySpanAttributes.TokenType, "input");
                _genAiTokenUsage.Record(inputTokens, tags);
            }

            if (outputTokens > 0)
            {
                var tags = GenAiTags(model, provider, responseModel);
                tags.Add(GatewaySpanAttributes.TokenType, "output");
                _genAiTokenUsage.Record(outputTokens, tags);
            }
        }
    }

    /// <summary>A guardrail rule fired on a call (<c>gateway.guardrail.triggered</c>).</summary>
    public void RecordGuardrail(string rule, string action, string direction, string model)
    {
        if (_guardrails.Enabled)
        {
            _guardrails.Add(1, new TagList { { "rule", rule }, { "action", action }, { "direction", direction }, { "model", model } });
        }
    }

    public void RecordCost(string model, string provider, string? team, double usd)
    {
        if (usd > 0 && _cost.Enabled)
        {
            var tags = new TagList { { "model", model } };
            AddIfPresent(ref tags, "provider", provider);
            AddIfPresent(ref tags, "team", team);
            _cost.Add(usd, tags);
        }
    }

    /// <summary>
    /// One upstream attempt ended: <c>gateway.attempts</c>, <c>gateway.attempt.duration</c> and
    /// <c>gen_ai.client.operation.duration</c> (the gateway as the provider's GenAI client).
    /// </summary>
    /// <param name="outcome"><c>success</c>, <c>failed</c> or <c>cancelled</c>.</param>
    /// <param name="error">The normalized error class of a failed attempt, or null.</param>
    /// <param name="upstreamModel">The model name sent to the provider (<c>gen_ai.request.model</c>); null if unknown.</param>
    public void RecordAttempt(string deployment, string provider, string outcome, string? error, TimeSpan duration, string? upstreamModel = null)
    {
        if (_attempts.Enabled)
        {
            var tags = new TagList { { "deployment", deployment }, { "outcome", outcome } };
            AddIfPresent(ref tags, "provider", provider);
            AddIfPresent(ref tags, "error", error);
            _attempts.Add(1, tags);
        }

        if (_attemptDuration.Enabled)
        {
            var tags = new TagList { { "deployment", deployment }, { "outcome", outcome } };
            AddIfPresent(ref tags, "provider", provider);
            _attemptDuration.Record(duration.TotalSeconds, tags);
        }

        if (_genAiClientDuration.Enabled)
        {
            var tags = GenAiTags(upstreamModel, provider, responseModel: null);
            if (outcome != Success)
            {
                // A failed attempt's error class; a cancelled one (a lost hedge race, a caller
                // that left) ended without an answer too and says so.
                tags.Add(GatewaySpanAttributes.ErrorType, error is { Length: > 0 } ? error : outcome);
            }

            _genAiClientDuration.Record(duration.TotalSeconds, tags);
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
            var tags = new TagList { { "limit", limit } };
            AddIfPresent(ref tags, "team", team);
            _rateLimitRefusals.Add(1, tags);
        }
    }

    /// <summary>A call refused because a budget is spent; <paramref name="budget"/> names it (daily, monthly...).</summary>
    public void RecordBudgetRefusal(string? team, string budget)
    {
        if (_budgetRefusals.Enabled)
        {
            var tags = new TagList { { "budget", budget } };
            AddIfPresent(ref tags, "team", team);
            _budgetRefusals.Add(1, tags);
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

    /// <summary>Where the audit-head gauge reads from (the audit trail); called at each collection.</summary>
    public void SetAuditHeadSource(Func<long> source) => _auditHeadSource = source;

    private IEnumerable<Measurement<long>> ObserveAuditHead()
    {
        if (_auditHeadSource is { } source)
        {
            yield return new Measurement<long>(source());
        }
    }

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

    /// <summary>The attributes every GenAI instrument carries: operation, provider (well-known value), requested and answering model.</summary>
    private static TagList GenAiTags(string? requestModel, string provider, string? responseModel)
    {
        var tags = new TagList { { GatewaySpanAttributes.OperationName, GatewayTelemetryNames.ChatOperation } };
        if (provider.Length > 0)
        {
            tags.Add(GatewaySpanAttributes.ProviderName, GenAiProviderNames.FromProviderKind(provider));
        }

        AddIfPresent(ref tags, GatewaySpanAttributes.RequestModel, requestModel);
        AddIfPresent(ref tags, GatewaySpanAttributes.ResponseModel, responseModel);
        return tags;
    }

    private static TagList TokenTags(string model, string provider, string? team, string type)
    {
        var tags = new TagList { { "model", model }, { "type", type } };
        AddIfPresent(ref tags, "provider", provider);
        AddIfPresent(ref tags, "team", team);
        return tags;
    }

    private static void AddIfPresent(ref TagList tags, string key, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            tags.Add(key, value);
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
