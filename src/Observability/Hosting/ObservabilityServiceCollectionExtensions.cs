using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Gateway.Grpc.Observability.AccessLog;
using Gateway.Grpc.Observability.Audit;
using Gateway.Grpc.Observability.Configuration;
using Gateway.Grpc.Observability.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Gateway.Grpc.Observability.Hosting;

/// <summary>Registers the gateway's observability and maps its endpoint.</summary>
public static class ObservabilityServiceCollectionExtensions
{
    /// <summary>
    /// The name under which the OpenTelemetry SDK subscribes to <see cref="IMeterFactory"/> meters
    /// (its <see cref="IMetricsListener"/>); <c>EnableMetrics</c> rules name it to reach the SDK only.
    /// </summary>
    internal const string OpenTelemetryListenerName = "OpenTelemetry";

    /// <summary>
    /// Adds <see cref="GatewayMetrics"/>, the OpenTelemetry SDK (metrics for the Prometheus
    /// endpoint and OTLP, traces with the ASP.NET Core, HttpClient and gRPC client
    /// instrumentations when tracing is enabled), the access log, the body-capture policy and the
    /// audit trail. Replace <see cref="IBodyCapturePolicy"/> or <see cref="IAuditTrail"/> by
    /// registering them first (TryAdd).
    /// </summary>
    /// <param name="auditKey">Reads the audit trail's HMAC key (audit.hmacKey resolved by the host); null: an unkeyed chain.</param>
    public static IServiceCollection AddGatewayObservability(this IServiceCollection services, TelemetryOptions telemetry, AccessLogOptions accessLog, AuditOptions audit, Func<byte[]>? auditKey = null)
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
        services.AddGatewayOpenTelemetry(telemetry);
        services.TryAddSingleton<IAccessLog>(sp => accessLog.Enabled
            ? new AccessLogWriter(accessLog.Path, accessLog.QueueCapacity, sp.GetRequiredService<GatewayMetrics>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger(GatewayTelemetryNames.AccessLogCategory))
            : NullAccessLog.Instance);
        var capture = (accessLog.IncludeBodies ? BodyCapture.AccessLog : BodyCapture.None) | (audit.RequestBodies ? BodyCapture.Audit : BodyCapture.None);
        services.TryAddSingleton<IBodyCapturePolicy>(new ConfiguredBodyCapturePolicy(capture));
        services.TryAddSingleton<IAuditTrail>(sp => string.IsNullOrEmpty(audit.Path)
            ? NullAuditTrail.Instance
            : new AuditTrail(new JsonLinesAuditStore(audit.Path), sp.GetRequiredService<TimeProvider>(), auditKey?.Invoke()));
        services.AddHostedService<ObservabilityStartup>();
        if (!string.IsNullOrEmpty(audit.Path))
        {
            services.AddHostedService<AuditHeadPublisher>();
        }

        return services;
    }

    /// <summary>
    /// Maps the OpenTelemetry Prometheus scraping endpoint (<c>telemetry:metrics:path</c>, default
    /// <c>/metrics</c>) unless <c>telemetry:metrics:prometheus</c> is false.
    /// </summary>
    public static IEndpointConventionBuilder? MapGatewayMetrics(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var options = endpoints.ServiceProvider.GetRequiredService<TelemetryOptions>();
        if (!options.Metrics.Prometheus)
        {
            return null;
        }

        // This host's MeterProvider, explicitly: several gateways may share the process.
        var meterProvider = endpoints.ServiceProvider.GetRequiredService<MeterProvider>();
        return endpoints.MapPrometheusScrapingEndpoint(options.Metrics.Path, meterProvider, configureBranchedPipeline: null, optionsName: null);
    }

    /// <summary>
    /// The OpenTelemetry SDK through OpenTelemetry.Extensions.Hosting: the providers live in this
    /// host's container and are flushed and disposed with it.
    /// </summary>
    private static void AddGatewayOpenTelemetry(this IServiceCollection services, TelemetryOptions telemetry)
    {
        var version = typeof(GatewayMetrics).Assembly.GetName().Version?.ToString(3);
        var otel = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(telemetry.ServiceName, serviceVersion: version));

        if (telemetry.Metrics.Prometheus || telemetry.Metrics.Otlp)
        {
            // Which meters reach the SDK is decided by a Microsoft.Extensions.Diagnostics rule, not by
            // MeterProviderBuilder.AddMeter: AddMeter matches a meter by name in the whole process,
            // so two gateways in one process (tests, embedding hosts) would each export the other's
            // series. MeterScope.Local admits only meters created by this container's IMeterFactory,
            // which is how GatewayMetrics creates its meter. The rule names the SDK's listener so no
            // other IMetricsListener is switched on by it.
            services.AddMetrics(metrics => metrics.EnableMetrics(GatewayTelemetryNames.MeterName, instrumentName: null, OpenTelemetryListenerName, MeterScope.Local));
            otel.WithMetrics(metrics =>
            {
                if (telemetry.Metrics.Prometheus)
                {
                    metrics.AddPrometheusExporter(o =>
                    {
                        o.ScrapeEndpointPath = telemetry.Metrics.Path;
                        // Every scrape sees the calls made before it (the default caches 300 ms).
                        o.ScrapeResponseCacheDurationMilliseconds = 0;
                    });
                }

                if (telemetry.Metrics.Otlp)
                {
                    AddOtlpMetrics(metrics, telemetry);
                }
            });
        }

        // Without tracing no TracerProvider exists: nothing listens to the gateway's
        // ActivitySource, to ASP.NET Core's or to HttpClient's, so no request pays for a span.
        if (telemetry.Tracing.Enabled)
        {
            AddTracing(otel, telemetry);
        }
    }

    // The OTLP exporter is configured in methods of their own: a gateway that exports nothing over
    // OTLP never loads that assembly (the JIT loads the types a method names when it compiles it).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AddOtlpMetrics(MeterProviderBuilder metrics, TelemetryOptions telemetry)
    {
        var protocol = OtlpProtocol(telemetry);
        var endpoint = ObservabilityStartup.Endpoint(telemetry.OtlpEndpoint!, protocol, "v1/metrics");
        metrics.AddOtlpExporter((o, reader) =>
        {
            o.Endpoint = endpoint;
            o.Protocol = protocol;
            reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = telemetry.Metrics.OtlpIntervalMs;
        });
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AddTracing(OpenTelemetryBuilder otel, TelemetryOptions telemetry)
    {
        var protocol = OtlpProtocol(telemetry);
        var endpoint = ObservabilityStartup.Endpoint(telemetry.OtlpEndpoint!, protocol, "v1/traces");
        var metricsPath = new PathString(telemetry.Metrics.Path);
        otel.WithTracing(tracing => tracing
            .AddSource(GatewayTelemetryNames.ActivitySourceName)
            .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(telemetry.Tracing.SamplingRatio)))
            .AddAspNetCoreInstrumentation(o => o.Filter = context => !context.Request.Path.StartsWithSegments(metricsPath))
            .AddHttpClientInstrumentation()
            .AddGrpcClientInstrumentation()
            .AddOtlpExporter(o =>
            {
                o.Endpoint = endpoint;
                o.Protocol = protocol;
            }));
    }

    internal static OtlpExportProtocol OtlpProtocol(TelemetryOptions telemetry)
        => telemetry.OtlpProtocol == "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
}
