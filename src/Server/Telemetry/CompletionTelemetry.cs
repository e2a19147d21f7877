using Gateway.Grpc.Observability.AccessLog;
using Gateway.Grpc.Observability.Audit;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Pipeline;
using Gateway.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Telemetry;

/// <summary>
/// Observes the Completion service from outside its handlers: each call gets a
/// <see cref="CallTelemetry"/> (span, request metrics, time to first token, tokens, cost, access
/// log line, opt-in body audit). The completion pipeline starts each call with
/// <see cref="Begin"/>; streams are observed through the events they write.
/// </summary>
internal sealed partial class CompletionTelemetry
{
    public const string GrpcRoute = "grpc";
    public const string RestRoute = "rest";

    private readonly ModelCatalog _catalog;
    private long _callsStarted;
    private long _callsInFlight;

    public CompletionTelemetry(GatewayMetrics metrics, IAccessLog accessLog, IBodyCapturePolicy capturePolicy, IAuditTrail audit, ModelCatalog catalog, TimeProvider timeProvider, ILogger<CompletionTelemetry> logger)
    {
        Metrics = metrics;
        AccessLog = accessLog;
        CapturePolicy = capturePolicy;
        Audit = audit;
        _catalog = catalog;
        TimeProvider = timeProvider;
        Logger = logger;
        metrics.SetCircuitStateSource(ObserveCircuits);
    }

    internal GatewayMetrics Metrics { get; }

    internal IAccessLog AccessLog { get; }

    internal IBodyCapturePolicy CapturePolicy { get; }

    internal IAuditTrail Audit { get; }

    internal TimeProvider TimeProvider { get; }

    internal ILogger Logger { get; }

    /// <summary>Completion calls (gRPC and REST) started since the process began.</summary>
    public long CallsStarted => Interlocked.Read(ref _callsStarted);

    /// <summary>Completion calls started and not yet completed.</summary>
    public long CallsInFlight => Interlocked.Read(ref _callsInFlight);

    internal void OnCallStarted()
    {
        Interlocked.Increment(ref _callsStarted);
        Interlocked.Increment(ref _callsInFlight);
    }

    internal void OnCallCompleted() => Interlocked.Decrement(ref _callsInFlight);

    /// <summary>Starts observing one call. Dispose-free: <see cref="CallTelemetry.Complete"/> ends it.</summary>
    public CallTelemetry StartCall(string route, string method, bool stream, CompletionRequest request, string? traceparent, string? tracestate)
        => new(this, route, method, stream, request, traceparent, tracestate);

    /// <summary>Starts observing a completion call arriving at either door; the caller's trace context comes from its headers.</summary>
    public CallTelemetry Begin(CompletionCall call, CompletionRequest request, bool stream)
    {
        var headers = call.Http.Request.Headers;
        var observed = StartCall(call.Route, stream ? "StreamComplete" : "Complete", stream, request, headers.TraceParent, headers.TraceState);
        observed.RequestId = call.RequestId;
        return observed;
    }

    /// <summary>A label value for the model: configured names only, so callers cannot mint series.</summary>
    internal string ModelLabel(string model) => _catalog.TryGet(model, out _) ? model : "unknown";

    internal DeploymentRuntime? FindDeployment(string name) => _catalog.FindDeployment(name);

    /// <summary>Ends an observed call that failed with <paramref name="exception"/>.</summary>
    public void Fail(CallTelemetry call, Exception exception, CompletionCall context)
    {
        switch (exception)
        {
            case RpcException rpc:
                call.Complete(rpc.StatusCode, rpc.Trailers.GetValue(ErrorMapping.ErrorKindTrailer), rpc.Status.Detail, rpc.Trailers.GetValue(ErrorMapping.AttemptsTrailer));
                break;
            case OperationCanceledException when context.DeadlinePassed(TimeProvider):
                call.Complete(StatusCode.DeadlineExceeded, "deadline_exceeded", "Deadline exceeded.");
                break;
            case OperationCanceledException:
                call.Complete(StatusCode.Cancelled, "cancelled", "Cancelled by the caller.");
                break;
            default:
                call.Complete(StatusCode.Unknown, "internal", exception.GetType().Name);
                break;
        }
    }

    private IEnumerable<CircuitStateObservation> ObserveCircuits()
    {
        foreach (var group in _catalog.Groups)
        {
            foreach (var deployment in group.Deployments)
            {
                yield return new CircuitStateObservation(deployment.Info.Name, deployment.Info.Provider, deployment.CircuitState switch
                {
                    Polly.CircuitBreaker.CircuitState.Open => CircuitStateKind.Open,
                    Polly.CircuitBreaker.CircuitState.HalfOpen => CircuitStateKind.HalfOpen,
                    Polly.CircuitBreaker.CircuitState.Isolated => CircuitStateKind.Isolated,
                    _ => CircuitStateKind.Closed,
                });
            }
        }
    }

    internal static partial class Log
    {
        [LoggerMessage(700, LogLevel.Error, "Recording the request body of {RequestId} in the audit trail failed.", EventName = "AuditBodyFailed")]
        public static partial void AuditBodyFailed(ILogger logger, string requestId, Exception exception);
    }
}
