using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using Gateway.Grpc.Observability;
using Gateway.Grpc.Observability.AccessLog;
using Gateway.Grpc.Observability.Tracing;
using Gateway.V1;
using Google.Protobuf;
using Grpc.Core;

namespace Gateway.Grpc.Server.Telemetry;

/// <summary>
/// One call's telemetry from request to final status. Governance and caching report into it
/// (<see cref="SetCaller"/>, <see cref="MarkCacheHit"/>); the pipeline drives it with
/// <see cref="OnResponse"/> / <see cref="OnChunk"/> / <see cref="Complete"/>; the completion
/// pipeline owns it for the whole call.
/// </summary>
internal sealed class CallTelemetry
{
    private static readonly string[] StatusNames =
    [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ];

    private static readonly string[] FinishStop = ["stop"];
    private static readonly string[] FinishLength = ["length"];
    private static readonly string[] FinishToolCalls = ["tool_calls"];
    private static readonly string[] FinishContentFilter = ["content_filter"];

    private readonly CompletionTelemetry _owner;
    private readonly CompletionRequest _request;
    private readonly long _started;
    private readonly Activity? _activity;
    private readonly Activity? _passThrough;
    private readonly string? _traceparent;
    private long _firstOutput;
    private int _completed;
    private BodyCapture? _capture;
    private StringBuilder? _completionText;
    private Usage? _usage;
    private RoutingInfo? _routing;
    private FinishReason _finishReason;
    private string? _responseModel;
    private string? _provider;
    private string? _deployment;
    private string? _responseId;

    internal CallTelemetry(CompletionTelemetry owner, string route, string method, bool stream, CompletionRequest request, string? traceparent, string? tracestate)
    {
        _owner = owner;
        owner.OnCallStarted();
        _request = request;
        Route = route;
        Method = method;
        Stream = stream;
        ModelLabel = owner.ModelLabel(request.Model);
        _started = owner.TimeProvider.GetTimestamp();
        _activity = GatewayTracing.StartCall(request.Model, Completion.Descriptor.FullName, method, route, stream, traceparent, tracestate);
        if (_activity is { IsAllDataRequested: true } activity)
        {
            if (request.HasMaxTokens)
            {
                activity.SetTag(GatewaySpanAttributes.RequestMaxTokens, request.MaxTokens);
            }

            if (request.HasTemperature)
            {
                activity.SetTag(GatewaySpanAttributes.RequestTemperature, request.Temperature);
            }

            if (request.HasTopP)
            {
                activity.SetTag(GatewaySpanAttributes.RequestTopP, request.TopP);
            }

            if (request.HasSeed)
            {
                activity.SetTag(GatewaySpanAttributes.RequestSeed, request.Seed);
            }
        }

        _passThrough = _activity is null ? GatewayTracing.StartPassThrough(traceparent, tracestate) : null;
        _traceparent = traceparent;
    }

    public string Route { get; }

    public string Method { get; }

    public bool Stream { get; }

    /// <summary>The model as a metric label ("unknown" for names the gateway does not serve).</summary>
    public string ModelLabel { get; }

    public string? Team { get; private set; }

    public string? KeyId { get; private set; }

    public bool CacheHit { get; private set; }

    /// <summary>The call's request id (set when the call begins; the response id when not).</summary>
    public string? RequestId { get; set; }

    /// <summary>The call's span, when tracing is on (for callers that add their own attributes).</summary>
    public Activity? Activity => _activity;

    /// <summary>Who is calling: team and key id (never the key). Set by authentication.</summary>
    public void SetCaller(string? team, string? keyId)
    {
        Team = team;
        KeyId = keyId;
        if (_activity is { IsAllDataRequested: true } activity)
        {
            activity.SetTag(GatewaySpanAttributes.Team, team);
            activity.SetTag(GatewaySpanAttributes.KeyId, keyId);
        }
    }

    public void MarkCacheHit() => CacheHit = true;

    /// <summary>Guardrail rules that fired (<c>rule:action:direction</c>, comma-separated): access log and span.</summary>
    public string? GuardrailTriggered { get; private set; }

    public void SetGuardrailTriggered(string triggered)
    {
        GuardrailTriggered = triggered;
        _activity?.SetTag(GatewaySpanAttributes.GuardrailTriggered, triggered);
    }

    /// <summary>A unary answer.</summary>
    public void OnResponse(CompletionResponse response)
    {
        _responseId = response.Id;
        _responseModel = response.Model;
        _provider = response.Routing?.Provider is { Length: > 0 } p ? p : response.Provider;
        _deployment = response.Routing?.Deployment;
        _usage = response.Usage;
        _routing = response.Routing;
        _finishReason = response.FinishReason;
        if (Capture != BodyCapture.None)
        {
            _completionText = new StringBuilder(response.Message?.Content ?? "");
        }
    }

    /// <summary>A stream event on its way to the caller. Cheap: no allocation unless bodies are captured.</summary>
    public void OnChunk(CompletionChunk chunk)
    {
        switch (chunk.EventCase)
        {
            case CompletionChunk.EventOneofCase.Delta:
                FirstOutput();
                if (_capture is not BodyCapture.None)
                {
                    CaptureText(chunk.Delta.Text);
                }

                break;
            case CompletionChunk.EventOneofCase.ToolCallDelta:
                FirstOutput();
                break;
            case CompletionChunk.EventOneofCase.Start:
                _responseId = chunk.Start.Id;
                _responseModel = chunk.Start.Model;
                _provider = chunk.Start.Provider;
                _deployment = chunk.Start.Deployment;
                _ = Capture;
                break;
            case CompletionChunk.EventOneofCase.Usage:
                _usage = chunk.Usage;
                break;
            case CompletionChunk.EventOneofCase.Finish:
                _finishReason = chunk.Finish.Reason;
                _routing = chunk.Finish.Routing;
                break;
            case CompletionChunk.EventOneofCase.Error:
                _routing = chunk.Error.Routing;
                break;
        }
    }

    /// <summary>The status as gRPC's docs spell it (<c>OK</c>, <c>UNIMPLEMENTED</c>...): the metrics' status label.</summary>
    internal static string StatusName(StatusCode status) => (int)status is >= 0 and < 17 ? StatusNames[(int)status] : "UNKNOWN";

    /// <summary>Ends the call: span, metrics, access log, body audit. Only the first call counts.</summary>
    public void Complete(StatusCode status, string? errorKind = null, string? detail = null, string? attemptTrail = null)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return;
        }

        var owner = _owner;
        owner.OnCallCompleted();
        var duration = owner.TimeProvider.GetElapsedTime(_started);
        TimeSpan? ttft = _firstOutput != 0 ? owner.TimeProvider.GetElapsedTime(_started, _firstOutput) : null;
        var statusName = StatusName(status);
        var provider = _provider ?? "";
        var inputTokens = _usage?.InputTokens ?? 0;
        var outputTokens = _usage?.OutputTokens ?? 0;
        var cost = Cost();
        RequestId ??= _responseId;

        var metrics = owner.Metrics;
        metrics.RecordRequest(Route, ModelLabel, provider, statusName, Stream, duration, errorKind, _responseModel, ttft, outputTokens);
        if (ttft is { } firstToken)
        {
            metrics.RecordTimeToFirstToken(Route, ModelLabel, provider, firstToken);
        }

        // A cache hit spent no tokens upstream (gateway.cache.saved_cost counts what it saved).
        if (status == StatusCode.OK && !CacheHit)
        {
            metrics.RecordTokens(ModelLabel, provider, Team, inputTokens, outputTokens, _responseModel);
            metrics.RecordCost(ModelLabel, provider, Team, cost);
        }

        if (_activity is { } activity)
        {
            EndSpan(activity, status, statusName, errorKind, detail, ttft, cost);
        }

        _passThrough?.Stop();

        if (owner.AccessLog.Enabled)
        {
            owner.AccessLog.Write(BuildEntry(statusName, errorKind, duration, ttft, cost, attemptTrail));
        }

        if ((Capture & BodyCapture.Audit) != 0 && owner.Audit.Enabled)
        {
            AuditBody(statusName);
        }
    }

    private BodyCapture Capture => _capture ??= _owner.CapturePolicy.Decide(new BodyCaptureContext(Team, KeyId, _request.Model, Route));

    private void FirstOutput()
    {
        if (_firstOutput == 0)
        {
            _firstOutput = _owner.TimeProvider.GetTimestamp();
        }
    }

    private void CaptureText(string text)
    {
        if (Capture != BodyCapture.None)
        {
            (_completionText ??= new StringBuilder()).Append(text);
        }
    }

    private double Cost()
    {
        if (_usage is null)
        {
            return 0;
        }

        if (_usage.CostUsd > 0)
        {
            return _usage.CostUsd;
        }

        // Until the pricing table fills usage.cost_usd, price from the deployment's configured rates.
        return _owner.FindDeployment(_deployment ?? "") is { } deployment
            ? ((deployment.InputCostPerMillion * _usage.InputTokens) + (deployment.OutputCostPerMillion * _usage.OutputTokens)) / 1_000_000.0
            : 0;
    }

    private void EndSpan(Activity activity, StatusCode status, string statusName, string? errorKind, string? detail, TimeSpan? ttft, double cost)
    {
        if (activity.IsAllDataRequested)
        {
            activity.SetTag(GatewaySpanAttributes.RpcGrpcStatusCode, (int)status);
            if (_provider is { Length: > 0 } provider)
            {
                activity.SetTag(GatewaySpanAttributes.ProviderName, GenAiProviderNames.FromProviderKind(provider));
            }

            if (_responseModel is { Length: > 0 })
            {
                activity.SetTag(GatewaySpanAttributes.ResponseModel, _responseModel);
            }

            if (_responseId is { Length: > 0 })
            {
                activity.SetTag(GatewaySpanAttributes.ResponseId, _responseId);
            }

            if (_deployment is { Length: > 0 })
            {
                activity.SetTag(GatewaySpanAttributes.Deployment, _deployment);
            }

            if (FinishReasons(_finishReason) is { } reasons)
            {
                activity.SetTag(GatewaySpanAttributes.ResponseFinishReasons, reasons);
            }

            if (_usage is { } usage)
            {
                activity.SetTag(GatewaySpanAttributes.UsageInputTokens, usage.InputTokens);
                activity.SetTag(GatewaySpanAttributes.UsageOutputTokens, usage.OutputTokens);
                if (usage.CachedInputTokens > 0)
                {
                    activity.SetTag(GatewaySpanAttributes.UsageCacheReadInputTokens, usage.CachedInputTokens);
                }
            }

            if (_routing is { } routing)
            {
                var hedged = false;
                var fallback = false;
                for (var attemptIndex = 0; attemptIndex < routing.Attempts.Count; attemptIndex++)
                {
                    var attempt = routing.Attempts[attemptIndex];
                    hedged |= attempt.Hedged;
                    fallback |= attempt.Fallback;
                }

                activity.SetTag(GatewaySpanAttributes.Attempts, routing.Attempts.Count);
                activity.SetTag(GatewaySpanAttributes.Hedged, hedged);
                activity.SetTag(GatewaySpanAttributes.Fallback, fallback);
            }

            activity.SetTag(GatewaySpanAttributes.CacheHit, CacheHit);
            activity.SetTag(GatewaySpanAttributes.CostUsd, cost);
            if (RequestId is { Length: > 0 })
            {
                activity.SetTag(GatewaySpanAttributes.RequestId, RequestId);
            }

            if (ttft is { } firstToken)
            {
                activity.SetTag(GatewaySpanAttributes.TimeToFirstTokenMs, firstToken.TotalMilliseconds);
                activity.AddEvent(new ActivityEvent(GatewaySpanAttributes.FirstTokenEvent, activity.StartTimeUtc + firstToken));
            }
        }

        if (status != StatusCode.OK)
        {
            GatewayTracing.SetError(activity, errorKind ?? statusName.ToLowerInvariant(), detail);
        }

        activity.Stop();
    }

    private static string[]? FinishReasons(FinishReason reason) => reason switch
    {
        FinishReason.Stop => FinishStop,
        FinishReason.Length => FinishLength,
        FinishReason.ToolCalls => FinishToolCalls,
        FinishReason.ContentFilter => FinishContentFilter,
        _ => null,
    };

    private AccessLogEntry BuildEntry(string statusName, string? errorKind, TimeSpan duration, TimeSpan? ttft, double cost, string? attemptTrail)
    {
        var entry = new AccessLogEntry
        {
            Timestamp = _owner.TimeProvider.GetUtcNow(),
            RequestId = RequestId ?? "",
            Route = Route,
            Method = Method,
            Stream = Stream,
            KeyId = KeyId,
            Team = Team,
            Model = _request.Model,
            ResponseModel = _responseModel,
            Provider = _provider,
            Deployment = _deployment,
            Status = statusName,
            ErrorKind = errorKind,
            FinishReason = FinishReasons(_finishReason)?[0],
            InputTokens = _usage?.InputTokens ?? 0,
            OutputTokens = _usage?.OutputTokens ?? 0,
            CachedInputTokens = _usage?.CachedInputTokens ?? 0,
            TokensEstimated = _usage?.Estimated ?? false,
            CostUsd = cost,
            LatencyMs = duration.TotalMilliseconds,
            TimeToFirstTokenMs = ttft?.TotalMilliseconds,
            CacheHit = CacheHit,
            GuardrailTriggered = GuardrailTriggered,
            TraceId = TraceId(),
        };
        if (_routing is { } routing)
        {
            entry.Attempts = routing.Attempts.Count;
            if (routing.TaskClass.Length > 0 || routing.RoutedModel.Length > 0 || routing.Continuations.Count > 0)
            {
                entry.TaskClass = routing.TaskClass.Length > 0 ? routing.TaskClass : null;
                entry.RoutedModel = routing.RoutedModel.Length > 0 ? routing.RoutedModel : null;
                entry.Continuations = routing.Continuations.Count;
            }

            // Built in a pooled buffer: only the finished string is allocated.
            var trail = new DefaultInterpolatedStringHandler(0, 0, CultureInfo.InvariantCulture);
            var first = true;
            for (var attemptIndex = 0; attemptIndex < routing.Attempts.Count; attemptIndex++)
            {
                var attempt = routing.Attempts[attemptIndex];
                entry.Hedged |= attempt.Hedged;
                entry.Fallback |= attempt.Fallback;
                if (!first)
                {
                    trail.AppendLiteral(",");
                }

                first = false;
                trail.AppendFormatted(attempt.Number);
                trail.AppendLiteral(":");
                trail.AppendFormatted(attempt.Deployment);
                trail.AppendLiteral(":");
                trail.AppendFormatted(DispatchTelemetry.OutcomeName(attempt.Outcome));
                if (attempt.Error.Length > 0)
                {
                    trail.AppendLiteral(":");
                    trail.AppendFormatted(attempt.Error);
                }

                if (attempt.Hedged)
                {
                    trail.AppendLiteral(":hedged");
                }

                if (attempt.Fallback)
                {
                    trail.AppendLiteral(":fallback");
                }
            }

            entry.AttemptTrail = trail.ToStringAndClear();
        }
        else if (!string.IsNullOrEmpty(attemptTrail))
        {
            entry.AttemptTrail = attemptTrail;
            entry.Attempts = attemptTrail.Count(c => c == ',') + 1;
            entry.Hedged = attemptTrail.Contains(":hedged", StringComparison.Ordinal);
            entry.Fallback = attemptTrail.Contains(":fallback", StringComparison.Ordinal);
        }

        if ((Capture & BodyCapture.AccessLog) != 0)
        {
            var prompt = new StringBuilder("[");
            for (var i = 0; i < _request.Messages.Count; i++)
            {
                prompt.Append(i == 0 ? "" : ",").Append(JsonFormatter.Default.Format(_request.Messages[i]));
            }

            entry.Prompt = prompt.Append(']').ToString();
            entry.Completion = _completionText?.ToString();
        }

        return entry;
    }

    /// <summary>The call span's trace, else the caller's (when tracing is off the log still correlates).</summary>
    private string? TraceId()
    {
        if (_activity is { } activity)
        {
            return activity.TraceId.ToHexString();
        }

        return GatewayTracing.TryParseTraceContext(_traceparent, null, out var remote) ? remote.TraceId.ToHexString() : null;
    }

    private void AuditBody(string statusName)
    {
        var requestId = RequestId ?? "";
        var details = new JsonObject
        {
            ["request_id"] = requestId,
            ["route"] = Route,
            ["team"] = Team,
            ["model"] = _request.Model,
            ["status"] = statusName,
            ["request"] = JsonNode.Parse(JsonFormatter.Default.Format(_request)),
            ["completion"] = _completionText?.ToString(),
        };
        var append = _owner.Audit.AppendAsync("request.body", KeyId ?? "anonymous", details);
        if (!append.IsCompletedSuccessfully)
        {
            // Off the call's path: the fsync'd append finishes on its own; failures are logged, not lost.
            _ = append.AsTask().ContinueWith(
                static (task, state) =>
                {
                    var (logger, id) = ((Microsoft.Extensions.Logging.ILogger, string))state!;
                    CompletionTelemetry.Log.AuditBodyFailed(logger, id, task.Exception!.GetBaseException());
                },
                (_owner.Logger, requestId),
                CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }
}
