using System.Diagnostics.Metrics;
using Gateway.Grpc.Observability.AccessLog;
using Gateway.Grpc.Observability.Audit;
using Gateway.Grpc.Observability.Configuration;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Observability.Metrics.Prometheus;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Observability.Hosting;

/// <summary>Registers the gateway's observability and maps its endpoint.</summary>
public static class ObservabilityServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="GatewayMetrics"/>, the Prometheus collector, the access log, the
    /// body-capture policy, the audit trail and (when configured) the OTLP exporters.
    /// Replace <see cref="IBodyCapturePolicy"/> or <see cref="IAuditTrail"/> by registering
    /// them first (TryAdd).
    /// </summary>
    public static IServiceCollection AddGatewayObservability(this IServiceCollection services, TelemetryOptions telemetry, AccessLogOptions accessLog, AuditOptions audit)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(telemetry);
        ArgumentNullException.ThrowIfNull(accessLog);
        ArgumentNullException.ThrowIfNull(audit);
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(telemetry);
        services.AddSingleton(accessLog);
        services.AddSingleton(audit);
        services.TryAddSingleton<GatewayMetrics>();
        services.TryAddSingleton(sp =>
        {
            var factory = sp.GetRequiredService<IMeterFactory>();
            // Only this host's meter: tests run several gateways in one process.
            return new PrometheusCollector(instrument => ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name == GatewayTelemetryNames.MeterName);
        });
        services.TryAddSingleton<IAccessLog>(sp => accessLog.Enabled
            ? new AccessLogWriter(accessLog.Path, accessLog.QueueCapacity, sp.GetRequiredService<GatewayMetrics>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger(GatewayTelemetryNames.AccessLogCategory))
            : NullAccessLog.Instance);
        var capture = (accessLog.IncludeBodies ? BodyCapture.AccessLog : BodyCapture.None) | (audit.RequestBodies ? BodyCapture.Audit : BodyCapture.None);
        services.TryAddSingleton<IBodyCapturePolicy>(new ConfiguredBodyCapturePolicy(capture));
        services.TryAddSingleton<IAuditTrail>(sp => string.IsNullOrEmpty(audit.Path)
            ? NullAuditTrail.Instance
            : new AuditTrail(new JsonLinesAuditStore(audit.Path), sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<ObservabilityStartup>();
        return services;
    }

    /// <summary>Maps the Prometheus exposition (<c>telemetry:metrics:path</c>, default <c>/metrics</c>) unless it is turned off.</summary>
    public static IEndpointConventionBuilder? MapGatewayMetrics(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var options = endpoints.ServiceProvider.GetRequiredService<TelemetryOptions>();
        if (!options.Metrics.Prometheus)
        {
            return null;
        }

        var collector = endpoints.ServiceProvider.GetRequiredService<PrometheusCollector>();
        return endpoints.MapGet(options.Metrics.Path, async context =>
        {
            var text = collector.Collect();
            context.Response.ContentType = PrometheusText.ContentType;
            context.Response.Headers.CacheControl = "no-store";
            await context.Response.WriteAsync(text, context.RequestAborted).ConfigureAwait(false);
        });
    }
}
