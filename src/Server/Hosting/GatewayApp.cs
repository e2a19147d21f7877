using Gateway.Grpc.Adapters;
using Gateway.Grpc.Adapters.Simulated;
using Gateway.Grpc.Observability.Hosting;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Protocol.Server;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Services;
using Gateway.Grpc.Server.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Hosting;

/// <summary>Thrown when the configuration is invalid; the message names the keys and the fixes.</summary>
public sealed class GatewayConfigurationException(string message) : Exception(message)
{
    public GatewayConfigurationException()
        : this("Invalid configuration.")
    {
    }

    public GatewayConfigurationException(string message, Exception innerException)
        : this(message + " " + innerException.Message)
    {
    }
}

/// <summary>Builds the gateway application: configuration, services, endpoints.</summary>
public static class GatewayApp
{
    public const string ConfigEnvironmentVariable = "GATEWAY_CONFIG";
    public const string EnvironmentPrefix = "GATEWAY_";

    /// <summary>
    /// Builds the app. Configuration, later wins: the embedded defaults, the file from
    /// <c>--config PATH</c> or <c>GATEWAY_CONFIG</c> (.yaml/.yml/.json), <c>GATEWAY_*</c>
    /// environment variables, then <paramref name="overrides"/> (tests).
    /// </summary>
    public static WebApplication Build(string[] args, IDictionary<string, string?>? overrides = null, Action<IServiceCollection>? configureServices = null, IReadOnlyList<IProviderAdapter>? additionalAdapters = null)
    {
        var (configPath, rest) = ExtractConfigPath(args);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = rest, ApplicationName = "Gateway.Grpc.Server" });
        var configuration = builder.Configuration;
        configuration.Sources.Clear();
        configPath ??= Environment.GetEnvironmentVariable(ConfigEnvironmentVariable);
        if (!string.IsNullOrEmpty(configPath))
        {
            if (!File.Exists(configPath))
            {
                throw new GatewayConfigurationException($"Config file '{configPath}' does not exist (from --config or {ConfigEnvironmentVariable}).");
            }

            if (configPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            {
                configuration.AddJsonFile(Path.GetFullPath(configPath), optional: false);
            }
            else
            {
                configuration.Sources.Add(new YamlConfigurationSource(Path.GetFullPath(configPath)));
            }
        }

        configuration.AddEnvironmentVariables(EnvironmentPrefix);
        if (overrides is not null)
        {
            configuration.AddInMemoryCollection(overrides);
        }

        var options = LoadOptions(configuration);
        var providers = new List<string> { SimulatedProvider.ProviderName };
        foreach (var adapter in additionalAdapters ?? [])
        {
            providers.Add(adapter.Provider);
        }

        var errors = GatewayOptionsValidator.Validate(options, providers);
        if (errors.Count > 0)
        {
            throw new GatewayConfigurationException("Invalid gateway configuration:\n  " + string.Join("\n  ", errors));
        }

        ConfigureLogging(builder.Logging, options);
        GatewayOptionsValidator.TryParseEndpoint(options.GrpcAddress, out var grpcEndpoint);
        GatewayOptionsValidator.TryParseEndpoint(options.HttpAddress, out var httpEndpoint);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.MaxStreamsPerConnection = options.MaxStreamsPerConnection;
            // Cleartext Http1AndHttp2 refuses prior-knowledge h2c, so gRPC gets an HTTP/2-only port.
            kestrel.Listen(grpcEndpoint, listen => listen.Protocols = HttpProtocols.Http2);
            kestrel.Listen(httpEndpoint, listen => listen.Protocols = HttpProtocols.Http1);
        });

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddGrpcServer(o =>
        {
            o.MaxReceiveMessageSize = options.MaxReceiveMessageSize;
            o.EnableDetailedErrors = options.DetailedErrors;
        });
        services.AddSingleton<SimulatedProvider>();
        services.AddSingleton<IProviderAdapter>(sp => sp.GetRequiredService<SimulatedProvider>());
        foreach (var adapter in additionalAdapters ?? [])
        {
            services.AddSingleton(adapter);
        }

        services.AddGatewayObservability(options.Telemetry, options.AccessLog, options.Audit);
        services.AddSingleton(sp => new DispatchTelemetry(sp.GetRequiredService<GatewayMetrics>()));
        services.AddSingleton<CompletionTelemetry>();
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<Dispatcher>();
        services.AddSingleton<CompletionService>();
        services.AddSingleton<ModelsService>();
        configureServices?.Invoke(services);

        var app = builder.Build();
        app.UseGrpcServer();
        app.MapGrpcService(app.Services.GetRequiredService<CompletionService>().CreateDefinition());
        app.MapGrpcService(app.Services.GetRequiredService<ModelsService>().CreateDefinition());
        app.MapGrpcHealthService();
        app.MapGrpcReflectionService();
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", () => Results.Text("ready\n"));
        app.MapGatewayMetrics();
        return app;
    }

    private static GatewayOptions LoadOptions(IConfiguration configuration)
    {
        var options = new GatewayOptions();
        try
        {
            configuration.Bind(options, b => b.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            throw new GatewayConfigurationException("Invalid gateway configuration: " + ex.Message + (ex.InnerException is null ? "" : " " + ex.InnerException.Message));
        }

        if (options.Models.Count == 0)
        {
            options.Models = EmbeddedDefault.Models();
        }

        return options;
    }

    private static void ConfigureLogging(ILoggingBuilder logging, GatewayOptions options)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        logging.SetMinimumLevel(LogLevel.Information);
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        if (Enum.TryParse<LogLevel>(options.LogLevel, ignoreCase: true, out var parsed))
        {
            logging.SetMinimumLevel(parsed);
        }
    }

    private static (string? ConfigPath, string[] Remaining) ExtractConfigPath(string[] args)
    {
        string? path = null;
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "--config" or "-c" && i + 1 < args.Length)
            {
                path = args[++i];
            }
            else if (args[i].StartsWith("--config=", StringComparison.Ordinal))
            {
                path = args[i]["--config=".Length..];
            }
            else
            {
                rest.Add(args[i]);
            }
        }

        return (path, rest.ToArray());
    }
}

/// <summary>The configuration used when none is given: two simulated models on loopback.</summary>
internal static class EmbeddedDefault
{
    public static List<ModelOptions> Models() =>
    [
        new ModelOptions
        {
            Name = "sim-small",
            OwnedBy = "simulated",
            ContextWindow = 16_384,
            Deployments =
            [
                new DeploymentOptions { Name = "sim-small-1", Provider = SimulatedProvider.ProviderName, UpstreamModel = "sim-small", Settings = new(StringComparer.OrdinalIgnoreCase) { ["ttft_ms"] = "50", ["tokens_per_second"] = "200" } },
            ],
        },
        new ModelOptions
        {
            Name = "sim-large",
            OwnedBy = "simulated",
            ContextWindow = 131_072,
            Deployments =
            [
                new DeploymentOptions { Name = "sim-large-1", Provider = SimulatedProvider.ProviderName, UpstreamModel = "sim-large", Settings = new(StringComparer.OrdinalIgnoreCase) { ["ttft_ms"] = "150", ["tokens_per_second"] = "80" } },
            ],
        },
    ];
}
