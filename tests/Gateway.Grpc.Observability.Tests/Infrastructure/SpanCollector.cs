using System.Collections.Concurrent;
using System.Diagnostics;

namespace Gateway.Grpc.Observability.Tests.Infrastructure;

/// <summary>Listens to the gateway's ActivitySource and keeps every stopped span (tests filter by trace id).</summary>
internal sealed class SpanCollector : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly ConcurrentQueue<Activity> _stopped = new();

    /// <param name="alsoHttpClient">Also keep HttpClient's spans (System.Net.Http), to see what a provider request continues.</param>
    public SpanCollector(bool alsoHttpClient = false)
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == GatewayTelemetryNames.ActivitySourceName || (alsoHttpClient && source.Name == "System.Net.Http"),
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public IReadOnlyList<Activity> InTrace(ActivityTraceId traceId) => _stopped.Where(a => a.TraceId == traceId).ToArray();

    /// <summary>The call spans of the call that answered with this response id.</summary>
    public IReadOnlyList<Activity> InTraceOfResponse(string responseId)
        => _stopped.Where(a => a.Kind == ActivityKind.Server && Equals(a.TagObjects.FirstOrDefault(t => t.Key == "gen_ai.response.id").Value, responseId)).ToArray();

    public void Dispose() => _listener.Dispose();
}

internal static class SpanExtensions
{
    public static object? Tag(this Activity activity, string key) => activity.TagObjects.FirstOrDefault(t => t.Key == key).Value;
}
