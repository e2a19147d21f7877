using Gateway.Grpc.Observability.Audit;
using Gateway.Grpc.Observability.Configuration;
using Gateway.Grpc.Observability.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Gateway.Grpc.Observability.Hosting;

/// <summary>
/// Starts what must exist before the first call (instruments, the audit trail's tail check,
/// the OTLP providers) and flushes the exporters at shutdown. OpenTelemetry.Extensions.Hosting
/// is not available here, so the providers' lifetime is this service's.
/// </summary>
internal sealed partial class ObservabilityStartup(IServiceProvider services, TelemetryOptions options, ILogger<ObservabilityStartup> logger) : IHostedService, IDisposable
{
    private TracerProvider? _tracerProvider;
    private MeterProvider? _meterProvider;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        services.GetRequiredService<GatewayMetrics>();
        services.GetRequiredService<Metrics.Prometheus.PrometheusCollector>();
        services.GetRequiredService<AccessLog.IAccessLog>();
        if (services.GetRequiredService<IAuditTrail>() is AuditTrail trail)
        {
            await trail.OpenAsync(cancellationToken).ConfigureAwait(false);
        }

        var version = typeof(ObservabilityStartup).Assembly.GetName().Version?.ToString(3);
        var resource = ResourceBuilder.CreateDefault().AddService(options.ServiceName, serviceVersion: version);
        var protocol = options.OtlpProtocol == "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
        if (options.Tracing.Enabled)
        {
            var endpoint = Endpoint(options.OtlpEndpoint!, protocol, "v1/traces");
            _tracerProvider = Sdk.CreateTracerProviderBuilder()
                .SetResourceBuilder(resource)
                .AddSource(GatewayTelemetryNames.ActivitySourceName)
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(options.Tracing.SamplingRatio)))
                .AddOtlpExporter(o =>
                {
                    o.Endpoint = endpoint;
                    o.Protocol = protocol;
                })
                .Build();
            Log.TracingEnabled(logger, endpoint, options.OtlpProtocol);
        }

        if (options.Metrics.Otlp)
        {
            var endpoint = Endpoint(options.OtlpEndpoint!, protocol, "v1/metrics");
            _meterProvider = Sdk.CreateMeterProviderBuilder()
                .SetResourceBuilder(resource)
                .AddMeter(GatewayTelemetryNames.MeterName)
                .AddOtlpExporter((o, reader) =>
                {
                    o.Endpoint = endpoint;
                    o.Protocol = protocol;
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = options.Metrics.OtlpIntervalMs;
                })
                .Build();
            Log.MetricsExportEnabled(logger, endpoint, options.OtlpProtocol);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        // Spans and metrics recorded so far go out before the process ends.
        _tracerProvider?.ForceFlush(5000);
        _meterProvider?.ForceFlush(5000);
        return Task.CompletedTask;
    }

    /// <summary>
    /// The configured endpoint is the collector's base URL (as OTEL_EXPORTER_OTLP_ENDPOINT);
    /// over HTTP the exporter wants the signal's full path, so it is appended here.
    /// </summary>
    internal static Uri Endpoint(string configured, OtlpExportProtocol protocol, string signalPath)
    {
        var uri = new Uri(configured);
        if (protocol != OtlpExportProtocol.HttpProtobuf || uri.AbsolutePath.EndsWith(signalPath, StringComparison.Ordinal))
        {
            return uri;
        }

        var builder = new UriBuilder(uri);
        builder.Path = builder.Path.TrimEnd('/') + "/" + signalPath;
        return builder.Uri;
    }

    public void Dispose()
    {
        _tracerProvider?.Dispose();
        _meterProvider?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(950, LogLevel.Information, "Exporting traces by OTLP to {Endpoint} ({Protocol}).", EventName = "TracingEnabled")]
        public static partial void TracingEnabled(ILogger logger, Uri endpoint, string protocol);

        [LoggerMessage(951, LogLevel.Information, "Exporting metrics by OTLP to {Endpoint} ({Protocol}).", EventName = "MetricsExportEnabled")]
        public static partial void MetricsExportEnabled(ILogger logger, Uri endpoint, string protocol);
    }
}
