using System.Runtime.CompilerServices;
using Gateway.Grpc.Observability.Audit;
using Gateway.Grpc.Observability.Configuration;
using Gateway.Grpc.Observability.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Gateway.Grpc.Observability.Hosting;

/// <summary>
/// Creates what must exist before the first call (instruments, the access log, the audit trail's
/// tail check) and flushes the OpenTelemetry exporters when the host stops. The providers
/// themselves belong to OpenTelemetry.Extensions.Hosting, which starts them with the host and
/// disposes them with the container.
/// </summary>
internal sealed partial class ObservabilityStartup(IServiceProvider services, TelemetryOptions options, ILogger<ObservabilityStartup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        services.GetRequiredService<GatewayMetrics>();
        services.GetRequiredService<AccessLog.IAccessLog>();
        if (services.GetRequiredService<IAuditTrail>() is AuditTrail trail)
        {
            await trail.OpenAsync(cancellationToken).ConfigureAwait(false);
        }

        if (options.Tracing.Enabled || options.Metrics.Otlp)
        {
            LogOtlpExport();
        }
    }

    // Names the OTLP exporter's types, so only a gateway that exports over OTLP loads that assembly.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void LogOtlpExport()
    {
        var protocol = ObservabilityServiceCollectionExtensions.OtlpProtocol(options);
        if (options.Tracing.Enabled)
        {
            Log.TracingEnabled(logger, Endpoint(options.OtlpEndpoint!, protocol, "v1/traces"), options.OtlpProtocol);
        }

        if (options.Metrics.Otlp)
        {
            Log.MetricsExportEnabled(logger, Endpoint(options.OtlpEndpoint!, protocol, "v1/metrics"), options.OtlpProtocol);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        // Spans and metrics recorded so far go out before the process ends; disposing the
        // container would flush too, but only after the host has reported that it stopped.
        services.GetService<TracerProvider>()?.ForceFlush(5000);
        if (options.Metrics.Otlp)
        {
            services.GetService<MeterProvider>()?.ForceFlush(5000);
        }

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

    private static partial class Log
    {
        [LoggerMessage(950, LogLevel.Information, "Exporting traces by OTLP to {Endpoint} ({Protocol}).", EventName = "TracingEnabled")]
        public static partial void TracingEnabled(ILogger logger, Uri endpoint, string protocol);

        [LoggerMessage(951, LogLevel.Information, "Exporting metrics by OTLP to {Endpoint} ({Protocol}).", EventName = "MetricsExportEnabled")]
        public static partial void MetricsExportEnabled(ILogger logger, Uri endpoint, string protocol);
    }
}
