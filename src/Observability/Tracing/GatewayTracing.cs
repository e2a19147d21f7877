using System.Diagnostics;

namespace Gateway.Grpc.Observability.Tracing;

/// <summary>
/// The gateway's spans: one SERVER span per call (<c>chat {model}</c>) continuing the caller's
/// W3C trace context, and one CLIENT span per upstream attempt beneath it. Returns null when
/// nobody listens, so callers guard attribute work with <c>activity is { IsAllDataRequested: true }</c>.
/// </summary>
public static class GatewayTracing
{
    /// <summary>The operation name of <see cref="StartPassThrough"/>'s unexported activities.</summary>
    public const string PassThroughName = "gateway.trace_context";

    public static ActivitySource Source { get; } = new(GatewayTelemetryNames.ActivitySourceName, typeof(GatewayTracing).Assembly.GetName().Version?.ToString(3));

    /// <summary>
    /// Starts the call span. Its parent is, in order: the caller's <c>traceparent</c> (W3C Trace
    /// Context §3.2; an invalid one is ignored, as the spec requires), else no parent. An
    /// ambient activity (ASP.NET Core's request activity) is used as the parent only when it is
    /// itself exported and belongs to the same trace; otherwise the call span would point at a
    /// span no backend ever receives.
    /// </summary>
    public static Activity? StartCall(string requestModel, string rpcService, string rpcMethod, string route, bool stream, string? traceparent, string? tracestate)
    {
        var source = Source;
        if (!source.HasListeners())
        {
            return null;
        }

        var hasRemote = TryParseTraceContext(traceparent, tracestate, out var parent);
        if (Activity.Current is { } ambient)
        {
            var exported = ambient.Recorded && ambient.Source.HasListeners() && ambient.Source.Name.Length > 0;
            if (exported && (!hasRemote || ambient.TraceId == parent.TraceId))
            {
                parent = ambient.Context;
            }
            else
            {
                Activity.Current = null;
            }
        }

        // Samplers see the attributes the GenAI conventions ask for at creation time.
        var tags = new TagList
        {
            { GatewaySpanAttributes.OperationName, GatewayTelemetryNames.ChatOperation },
            { GatewaySpanAttributes.RequestModel, requestModel },
            { GatewaySpanAttributes.RpcSystem, "grpc" },
            { GatewaySpanAttributes.RpcService, rpcService },
            { GatewaySpanAttributes.RpcMethod, rpcMethod },
            { GatewaySpanAttributes.Route, route },
            { GatewaySpanAttributes.Stream, stream },
        };
        return source.StartActivity(ActivityKind.Server, parent, tags, links: null, startTime: default, name: SpanName(requestModel));
    }

    /// <summary>
    /// When tracing is off (nobody listens to <see cref="Source"/>): an activity that is never
    /// exported, carrying the caller's W3C trace context, so that HttpClient still passes the
    /// caller's trace on to the provider (it propagates <see cref="Activity.Current"/>). Null when
    /// tracing is on, another activity is current, or the caller sent no valid traceparent; the
    /// caller stops it when the call ends.
    /// </summary>
    public static Activity? StartPassThrough(string? traceparent, string? tracestate)
    {
        if (Source.HasListeners() || Activity.Current is not null || !TryParseTraceContext(traceparent, tracestate, out var remote))
        {
            return null;
        }

        var activity = new Activity(PassThroughName);
        activity.SetParentId(remote.TraceId, remote.SpanId, remote.TraceFlags);
        activity.TraceStateString = remote.TraceState;
        activity.IsAllDataRequested = false;
        return activity.Start();
    }

    /// <summary>Starts an attempt span under the current (call) span.</summary>
    public static Activity? StartAttempt(string upstreamModel, string provider, string deployment, int number, bool hedged, bool fallback)
    {
        var source = Source;
        if (!source.HasListeners())
        {
            return null;
        }

        var tags = new TagList
        {
            { GatewaySpanAttributes.OperationName, GatewayTelemetryNames.ChatOperation },
            { GatewaySpanAttributes.ProviderName, GenAiProviderNames.FromProviderKind(provider) },
            { GatewaySpanAttributes.RequestModel, upstreamModel },
            { GatewaySpanAttributes.Deployment, deployment },
            { GatewaySpanAttributes.AttemptNumber, number },
            { GatewaySpanAttributes.Hedged, hedged },
            { GatewaySpanAttributes.Fallback, fallback },
        };
        return source.StartActivity(ActivityKind.Client, parentContext: default, tags, links: null, startTime: default, name: SpanName(upstreamModel));
    }

    /// <summary>Parses a W3C <c>traceparent</c> (and <c>tracestate</c>) into a remote parent context.</summary>
    public static bool TryParseTraceContext(string? traceparent, string? tracestate, out ActivityContext context)
    {
        if (string.IsNullOrEmpty(traceparent))
        {
            context = default;
            return false;
        }

        return ActivityContext.TryParse(traceparent, tracestate, isRemote: true, out context);
    }

    /// <summary>Marks a span failed with the normalized error class (<c>error.type</c>).</summary>
    public static void SetError(Activity? activity, string errorType, string? description)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetStatus(ActivityStatusCode.Error, description);
        if (activity.IsAllDataRequested)
        {
            activity.SetTag(GatewaySpanAttributes.ErrorType, errorType);
        }
    }

    private static string SpanName(string model) => model.Length == 0 ? GatewayTelemetryNames.ChatOperation : GatewayTelemetryNames.ChatOperation + " " + model;
}

/// <summary>Maps the gateway's provider kinds to <c>gen_ai.provider.name</c> well-known values.</summary>
public static class GenAiProviderNames
{
    public static string FromProviderKind(string provider) => provider switch
    {
        "openai" => "openai",
        "anthropic" => "anthropic",
        "gemini" or "google" => "gcp.gemini",
        "vertex" or "vertex_ai" or "vertexai" => "gcp.vertex_ai",
        "azure" or "azure-openai" or "azure_openai" or "azureopenai" => "azure.ai.openai",
        "bedrock" or "aws-bedrock" => "aws.bedrock",
        "mistral" => "mistral_ai",
        _ => provider,
    };
}
