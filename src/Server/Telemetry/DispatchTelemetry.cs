using System.Collections.Concurrent;
using System.Diagnostics;
using Gateway.Grpc.Observability;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Observability.Tracing;
using Gateway.Grpc.Server.Dispatch;
using Gateway.V1;

namespace Gateway.Grpc.Server.Telemetry;

/// <summary>
/// What the dispatcher reports: a CLIENT span per upstream attempt (a child of the call span,
/// current while the adapter runs, so HttpClient passes its traceparent on to the provider),
/// attempt counts and durations, retries, fallbacks and hedges.
/// </summary>
internal sealed class DispatchTelemetry(GatewayMetrics? metrics)
{
    /// <summary>No metrics; spans only if someone listens (unit tests of the dispatcher).</summary>
    public static readonly DispatchTelemetry None = new(null);

    // Deployment name -> the model name it sends upstream (gen_ai.request.model of the attempt's
    // gen_ai.client.operation.duration), noted when an attempt starts because its end only knows
    // the Attempt message. Names are few and come from configuration; a reload that changes a
    // deployment's upstream model overwrites the entry at its next attempt.
    private readonly ConcurrentDictionary<string, string> _upstreamModels = new(StringComparer.Ordinal);

    public Activity? AttemptStarted(DeploymentRuntime deployment, int number, bool hedged, bool fallback)
    {
        var info = deployment.Info;
        if (metrics is not null && (!_upstreamModels.TryGetValue(info.Name, out var known) || !string.Equals(known, info.UpstreamModel, StringComparison.Ordinal)))
        {
            _upstreamModels[info.Name] = info.UpstreamModel;
        }

        return GatewayTracing.StartAttempt(info.UpstreamModel, info.Provider, info.Name, number, hedged, fallback);
    }

    /// <summary>The first token of a stream attempt: an event on its span; the span goes on until the stream ends.</summary>
    public static void AttemptFirstToken(Activity? activity, TimeSpan elapsed)
    {
        if (activity is { IsAllDataRequested: true })
        {
            activity.AddEvent(new ActivityEvent(GatewaySpanAttributes.FirstTokenEvent, tags: new ActivityTagsCollection { { GatewaySpanAttributes.TimeToFirstTokenMs, elapsed.TotalMilliseconds } }));
        }
    }

    public void AttemptEnded(Activity? activity, Attempt attempt, AttemptOutcome outcome, TimeSpan latency, string? error)
    {
        var outcomeName = OutcomeName(outcome);
        if (metrics is not null)
        {
            _upstreamModels.TryGetValue(attempt.Deployment, out var upstreamModel);
            metrics.RecordAttempt(attempt.Deployment, attempt.Provider, outcomeName, error, latency, upstreamModel);
        }

        if (activity is null)
        {
            return;
        }

        if (activity.IsAllDataRequested)
        {
            activity.SetTag(GatewaySpanAttributes.AttemptOutcome, outcomeName);
        }

        if (outcome == AttemptOutcome.Failed)
        {
            GatewayTracing.SetError(activity, error ?? "failed", error);
        }

        // Stopping restores Activity.Current to the span's parent; keep whatever the caller had.
        var current = Activity.Current;
        activity.Stop();
        if (!ReferenceEquals(current, activity))
        {
            Activity.Current = current;
        }
    }

    public void Retry(string model, string reason) => metrics?.RecordRetry(model, reason);

    public void Fallback(string model, string fallbackModel, string reason)
    {
        metrics?.RecordFallback(model, fallbackModel, reason);
        if (Activity.Current is { IsAllDataRequested: true } call && call.Source == GatewayTracing.Source)
        {
            call.AddEvent(new ActivityEvent("gateway.fallback", tags: new ActivityTagsCollection { { "gateway.fallback.from", model }, { "gateway.fallback.to", fallbackModel }, { GatewaySpanAttributes.ErrorType, reason } }));
        }
    }

    public void Hedge(string model, string deployment) => metrics?.RecordHedge(model, deployment);

    public static string OutcomeName(AttemptOutcome outcome) => outcome switch
    {
        AttemptOutcome.Success => "success",
        AttemptOutcome.Failed => "failed",
        AttemptOutcome.Cancelled => "cancelled",
        _ => "running",
    };
}
