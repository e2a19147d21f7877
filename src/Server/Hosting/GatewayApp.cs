using System.Runtime.CompilerServices;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Adapters.Configuration;
using Gateway.Grpc.Adapters.Secrets;
using Gateway.Grpc.Adapters.Simulated;
using Gateway.Grpc.Caching;
using Gateway.Grpc.Caching.Exact;
using Gateway.Grpc.Caching.Internal;
using Gateway.Grpc.Caching.Semantic;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Governance.Budgets;
using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Limits;
using Gateway.Grpc.Governance.Pricing;
using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Server.Governance;
using Gateway.Grpc.Tokenizer.Chat;
using Gateway.Grpc.Observability.AccessLog;
using Gateway.Grpc.Observability.Hosting;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Pipeline;
using Gateway.Grpc.Server.Routing;
using Gateway.Grpc.Server.Rest;
using Gateway.Grpc.Server.Services;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

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
    /// environment variables, command-line <c>--key value</c> pairs, then <paramref name="overrides"/> (tests).
    /// </summary>
    public static WebApplication Build(string[] args, IDictionary<string, string?>? overrides = null, Action<IServiceCollection>? configureServices = null, IReadOnlyList<IProviderAdapter>? additionalAdapters = null)
    {
        var (configPath, rest) = ExtractConfigPath(args);
        // The builder's default sources (appsettings*.json, cleared below) would otherwise watch the
        // working directory and everything under it (the SQLite store's data/ included) for changes.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"], ApplicationName = "Gateway.Grpc.Server" });
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
                try
                {
                    configuration.AddJsonFile(Path.GetFullPath(configPath), optional: false);
                }
                catch (InvalidDataException ex)
                {
                    // The JSON provider reports duplicate keys and syntax errors this way.
                    throw new GatewayConfigurationException($"Config file '{configPath}' is not valid JSON: {ex.InnerException?.Message ?? ex.Message}");
                }
            }
            else
            {
                configuration.Sources.Add(new YamlConfigurationSource(Path.GetFullPath(configPath)));
            }
        }

        configuration.AddInMemoryCollection(GatewayEnvironmentVariables());
        configuration.AddCommandLine(rest);
        if (overrides is not null)
        {
            configuration.AddInMemoryCollection(overrides);
        }

        var options = LoadOptions(configuration);
        // One secret resolver for the process: validation and the store's connection string use it
        // now, and it is the ISecretResolver every adapter and the governance code get injected.
        var secrets = new SecretResolver(TimeProvider.System);
        var providers = new List<string>(ProviderNames.All);
        foreach (var adapter in additionalAdapters ?? [])
        {
            providers.Add(adapter.Provider);
        }

        // The same validator runs now (Kestrel's endpoints and the registrations below depend on the
        // values) and, as the registered IValidateOptions, again when the host starts (ValidateOnStart).
        var validation = new GatewayOptionsValidation(providers, secrets);
        if (validation.Validate(null, options) is { Failed: true } invalid)
        {
            throw new GatewayConfigurationException("Invalid gateway configuration:\n  " + string.Join("\n  ", invalid.Failures!));
        }

        ConfigureLogging(builder.Logging, options);
        GatewayOptionsValidator.TryParseEndpoint(options.GrpcAddress, out var grpcEndpoint);
        GatewayOptionsValidator.TryParseEndpoint(options.HttpAddress, out var httpEndpoint);
        // TLS (and mutual TLS) on both listeners when tls.certificateFile/keyFile are set; the
        // files are read now (a bad file fails start-up) and re-read when they change.
        var tls = options.Tls.Enabled ? TlsCertificates.Load(options.Tls, TimeProvider.System) : null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.MaxStreamsPerConnection = options.MaxStreamsPerConnection;
            // Above requestLimits:maxHeaderBytes, so EdgeGuardMiddleware (not Kestrel's bare 431 or
            // stream reset) answers oversized headers, in each door's error shape.
            kestrel.Limits.MaxRequestHeadersTotalSize = EdgeGuardMiddleware.KestrelHeaderLimit(options);
            kestrel.Limits.Http2.MaxRequestHeaderFieldSize = EdgeGuardMiddleware.KestrelHeaderLimit(options);
            // Cleartext Http1AndHttp2 refuses prior-knowledge h2c, so gRPC gets an HTTP/2-only port.
            kestrel.Listen(grpcEndpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                UseTls(listen, tls, System.Net.Security.SslApplicationProtocol.Http2);
            });
            kestrel.Listen(httpEndpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                UseTls(listen, tls, System.Net.Security.SslApplicationProtocol.Http11);
            });
        });

        var services = builder.Services;
        if (tls is not null)
        {
            services.AddSingleton(tls);
            services.AddHostedService(sp => sp.GetRequiredService<TlsCertificates>());
        }

        services.AddSingleton<IValidateOptions<GatewayOptions>>(validation);
        services.AddOptions<GatewayOptions>()
            .Bind(configuration, static b => b.ErrorOnUnknownConfiguration = true)
            .PostConfigure(static o => ApplyDefaults(o))
            .ValidateOnStart();
        services.AddSingleton(static sp => sp.GetRequiredService<IOptions<GatewayOptions>>().Value);
        services.AddSingleton(TimeProvider.System);
        var grpc = services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = options.MaxReceiveMessageSize;
            o.MaxSendMessageSize = null;
            o.EnableDetailedErrors = options.DetailedErrors;
            // gzip is grpc-dotnet's built-in provider: requests may arrive gzip-compressed. Responses
            // go uncompressed (no ResponseCompressionAlgorithm): a stream's deltas are a few bytes
            // each, and gzip makes such a frame larger and costs ~2 us per message.
        }).AddJsonTranscoding();
        AddServerInterceptor(grpc);
        // Registered in DI, the interceptor and the services are shared instances grpc-dotnet takes
        // from the container; otherwise it builds one of each per call through a factory compiled
        // from an expression tree. None of them holds per-call state.
        services.AddSingleton<GatewayServerInterceptor>();
        services.AddSingleton<CompletionGrpcService>();
        services.AddSingleton<ModelsGrpcService>();
        services.AddSingleton<AdminGrpcService>();
        services.AddGrpcReflection();
        AddGrpcWebCors(services, options.GrpcWeb);
        services.AddGrpcSwagger();
        services.AddSwaggerGen(o => o.SwaggerDoc("v1", new Microsoft.OpenApi.Models.OpenApiInfo { Title = "LLM gateway: gateway.v1 and gateway.admin.v1 over JSON", Version = "v1" }));
        AddHealth(services, options);
        // Before AddProviderAdapters, whose TryAdd would otherwise register a second resolver (a
        // second file cache) for the adapters beside the one validation and the store use.
        services.TryAddSingleton<ISecretResolver>(secrets);
        services.AddProviderAdapters();
        foreach (var deployment in options.Models.SelectMany(static m => m.Deployments))
        {
            // settings.proxy_url: that deployment's named upstream client goes through the proxy.
            if (deployment.Settings.TryGetValue("proxy_url", out var proxyUrl) && !string.IsNullOrEmpty(proxyUrl))
            {
                services.AddHttpClient(UpstreamHttpClients.NameFor(deployment.Name))
                    .ConfigurePrimaryHttpMessageHandler(() => UpstreamHttpClients.CreateHandler(proxyUrl));
            }
        }
        foreach (var adapter in additionalAdapters ?? [])
        {
            services.AddSingleton(adapter);
        }

        AddGovernance(services, options, secrets);
        AddResponseCache(services, options.Cache, secrets);
        if (TaskRouting.NeedsEmbedder(options))
        {
            // The semantic cache's MiniLM embedder when it has one: one model in memory, not two.
            services.TryAddSingleton<MiniLmEmbedder>();
        }

        services.AddSingleton<TaskRouting>();
        var bodyPolicy = new TenantBodyCapturePolicy((options.AccessLog.IncludeBodies ? BodyCapture.AccessLog : BodyCapture.None) | (options.Audit.RequestBodies ? BodyCapture.Audit : BodyCapture.None));
        services.AddSingleton(bodyPolicy);
        services.AddSingleton<IBodyCapturePolicy>(bodyPolicy);
        var auditKey = options.Audit.HmacKey;
        services.AddGatewayObservability(options.Telemetry, options.AccessLog, options.Audit, string.IsNullOrEmpty(auditKey) ? null : () => System.Text.Encoding.UTF8.GetBytes(secrets.Resolve(auditKey)));
        services.AddSingleton(sp => new DispatchTelemetry(sp.GetRequiredService<GatewayMetrics>()));
        services.AddSingleton<CompletionTelemetry>();
        services.AddSingleton<IdleMemoryTrimmer>();
        services.AddHostedService(sp => sp.GetRequiredService<IdleMemoryTrimmer>());
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<Dispatcher>();
        services.AddSingleton<ContextWindowGuard>();
        // The local embedding model (loaded on first use): the semantic cache's default embedder and
        // the guardrails' topics matched by meaning share one instance.
        services.TryAddSingleton<MiniLmEmbedder>();
        services.AddSingleton<Gateway.Grpc.Server.Guardrails.GuardrailService>();
        services.AddSingleton<Gateway.Grpc.Server.Guardrails.ResponseFormatGuard>();
        services.AddSingleton<CompletionPipeline>();
        services.AddSingleton<ModelsQuery>();
        services.AddSingleton<EmbeddingsService>();
        services.AddSingleton<DeploymentHealth>();
        services.AddSingleton<AdminOperations>();
        // The web console at /ui: on when console.enabled, or unset in open dev mode on loopback.
        var openDevMode = string.IsNullOrEmpty(options.Auth.MasterKey) && !(options.Auth.RequireKeys ?? options.Auth.Jwt is not null);
        var console = options.Console.IsOn(openDevMode, GatewayOptionsValidator.IsLoopback(options.HttpAddress));
        if (console)
        {
            Gateway.Grpc.Console.ConsoleServiceCollectionExtensions.AddGatewayConsole<ConsoleBackend>(services, options.Console);
        }

        configureServices?.Invoke(services);

        var app = builder.Build();
        // Created now so that it hears ApplicationStopping even if /readyz was never asked.
        app.Services.GetRequiredService<ShutdownDrain>();
        if (tls is not null)
        {
            tls.Logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger<TlsCertificates>();
        }

        app.Services.GetRequiredService<BudgetAlertNotifier>();
        // Built now so a Redis-backed semantic index subscribes and loads before the first call.
        app.Services.GetRequiredService<ResponseCache>();
        if (TaskRouting.NeedsEmbedder(options))
        {
            // Embed the routers' examples off the request path, so the first call does not pay for it.
            var taskRouting = app.Services.GetRequiredService<TaskRouting>();
            _ = Task.Run(taskRouting.Warm);
        }
        // The tokenizer loads on first use (its o200k_base vocabulary holds ~75 MB): a gateway whose
        // calls never need a local token count (no tokens-per-minute limit, providers that report
        // usage) never loads it. A missing vocabulary is reported once, through this logger.
        ChatTokenCounter.DefaultLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Tokenizer");
        app.UseEdgeGuard();
        if (options.GrpcWeb.Enabled)
        {
            // gRPC-Web on every gRPC service (browsers; application/grpc-web and grpc-web-text).
            if (options.GrpcWeb.AllowedOrigins.Count > 0)
            {
                app.UseCors(GrpcWebCorsPolicy);
            }

            app.UseGrpcWeb(new Microsoft.AspNetCore.Builder.GrpcWebOptions { DefaultEnabled = true });
        }

        app.MapGrpcService<CompletionGrpcService>();
        app.MapGrpcService<ModelsGrpcService>();
        app.MapGrpcService<AdminGrpcService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        // OpenAPI for the JSON-transcoded routes (google.api.http): /openapi/v1.json.
        // An endpoint, not a middleware: nothing runs on the other requests' path.
        app.MapGet(OpenApiDocumentEndpoint.Pattern, OpenApiDocumentEndpoint.WriteAsync);
        app.MapOpenAiRest();
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        // Ready: the store migrated and answering, the ledger writer keeping up, Redis connected
        // (when limits live there). 200 when healthy or degraded, 503 when not ready.
        app.MapHealthChecks("/readyz", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions
        {
            Predicate = static r => r.Tags.Contains(Readiness.Tag),
            ResponseWriter = Readiness.WriteAsync,
        });
        app.MapGatewayMetrics();
        if (console)
        {
            Gateway.Grpc.Console.ConsoleServiceCollectionExtensions.MapGatewayConsole(app);
        }

        return app;
    }

    /// <summary>TLS on a listener: each handshake takes the current certificate (reloads apply to new connections).</summary>
    private static void UseTls(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions listen, TlsCertificates? tls, System.Net.Security.SslApplicationProtocol protocol)
    {
        if (tls is null)
        {
            return;
        }

        listen.UseHttps(new Microsoft.AspNetCore.Server.Kestrel.Https.TlsHandshakeCallbackOptions
        {
            OnConnection = context => ValueTask.FromResult(tls.ForConnection(protocol)),
        });
    }

    private const string GrpcWebCorsPolicy = "grpc-web";

    /// <summary>
    /// CORS for gRPC-Web from the configured browser origins: POST and the headers gRPC-Web
    /// sends, with the gRPC status and the gateway's headers exposed to the page.
    /// </summary>
    private static void AddGrpcWebCors(IServiceCollection services, Configuration.GrpcWebOptions grpcWeb)
    {
        if (!grpcWeb.Enabled || grpcWeb.AllowedOrigins.Count == 0)
        {
            return;
        }

        services.AddCors(o => o.AddPolicy(GrpcWebCorsPolicy, policy =>
        {
            if (grpcWeb.AllowedOrigins.Contains("*"))
            {
                policy.AllowAnyOrigin();
            }
            else
            {
                policy.WithOrigins([.. grpcWeb.AllowedOrigins]);
            }

            policy.WithMethods("POST", "OPTIONS")
                .WithHeaders("content-type", "x-grpc-web", "x-user-agent", "grpc-timeout", "authorization", CallerHeaders.ApiKeyHeader, CallerHeaders.RequestIdHeader, "traceparent", "tracestate", Gateway.Grpc.Caching.CacheDirective.HeaderName)
                .WithExposedHeaders("grpc-status", "grpc-message", "grpc-encoding", "grpc-accept-encoding", CallerHeaders.RequestIdHeader, CompletionPipeline.CacheResultHeader, CompletionPipeline.CacheSimilarityHeader, ErrorMapping.ErrorKindTrailer, ErrorMapping.RetryAfterTrailer, ErrorMapping.AttemptsTrailer);
        }));
    }

    /// <summary>
    /// <see cref="GatewayServerInterceptor"/> on every gRPC service the gateway maps except
    /// gateway.v1.Completion: the gateway's own Models and Admin services, grpc.health.v1 and both
    /// reflection versions. Completion applies the same edge inline (its request id in the service,
    /// its error mapping through <see cref="CompletionCall.GrpcEdge"/>), because a global
    /// interceptor cannot be left off one service and grpc-dotnet's interceptor pipeline costs
    /// every call three async state machines (about 450 B and half a microsecond, measured with
    /// bench/AllocHook). The health service's class is internal to Grpc.AspNetCore.HealthChecks,
    /// so it is looked up by name; a rename in a later version fails start-up here, not silently.
    /// </summary>
    private static void AddServerInterceptor(global::Grpc.AspNetCore.Server.IGrpcServerBuilder grpc)
    {
        Type[] intercepted =
        [
            typeof(ModelsGrpcService),
            typeof(AdminGrpcService),
            typeof(global::Grpc.Reflection.ReflectionServiceImpl),
            typeof(global::Grpc.Reflection.ReflectionV1ServiceImpl),
            typeof(global::Grpc.AspNetCore.HealthChecks.GrpcHealthChecksOptions).Assembly
                .GetType("Grpc.AspNetCore.HealthChecks.Internal.HealthServiceIntegration", throwOnError: true)!,
        ];
        foreach (var service in intercepted)
        {
            grpc.Services.AddSingleton(
                typeof(IConfigureOptions<>).MakeGenericType(typeof(global::Grpc.AspNetCore.Server.GrpcServiceOptions<>).MakeGenericType(service)),
                typeof(InterceptedService<>).MakeGenericType(service));
        }
    }

    /// <summary>Adds <see cref="GatewayServerInterceptor"/> to one service's options (what <c>AddServiceOptions&lt;T&gt;</c> does, for a type named at run time).</summary>
    private sealed class InterceptedService<TService> : IConfigureOptions<global::Grpc.AspNetCore.Server.GrpcServiceOptions<TService>>
        where TService : class
    {
        public void Configure(global::Grpc.AspNetCore.Server.GrpcServiceOptions<TService> options) => options.Interceptors.Add<GatewayServerInterceptor>();
    }

    /// <summary>
    /// grpc.health.v1 through Grpc.AspNetCore.HealthChecks: "" and each served service name are
    /// the gateway itself (serving while it runs), <c>deployment/&lt;name&gt;</c> one entry per
    /// deployment driven by its circuit.
    /// </summary>
    private static void AddHealth(IServiceCollection services, GatewayOptions options)
    {
        var health = services.AddHealthChecks().AddCheck("self", static () => HealthCheckResult.Healthy(), tags: ["self"]);
        var names = options.Models.SelectMany(static m => m.Deployments).Select(static d => d.Name).Distinct(StringComparer.Ordinal).ToArray();
        foreach (var name in names)
        {
            health.Add(new HealthCheckRegistration(DeploymentHealth.Prefix + name, sp => new DeploymentHealthCheck(sp.GetRequiredService<ModelCatalog>(), name), HealthStatus.Unhealthy, [DeploymentHealth.Tag]));
        }

        services.AddGrpcHealthChecks(o =>
        {
            o.Services.Clear();
            foreach (var service in new[] { "", Completion.Descriptor.FullName, Models.Descriptor.FullName, Gateway.Admin.V1.AdminService.Descriptor.FullName })
            {
                o.Services.Map(service, static c => c.Tags.Contains("self"));
            }

            foreach (var name in names)
            {
                var entry = DeploymentHealth.Prefix + name;
                o.Services.Map(entry, c => c.Name == entry);
            }
        });
        // Watch hears of circuit changes at once (DeploymentHealth); the publisher re-checks every few seconds.
        services.Configure<HealthCheckPublisherOptions>(static o =>
        {
            o.Delay = TimeSpan.FromMilliseconds(100);
            o.Period = TimeSpan.FromSeconds(5);
            // The publisher feeds grpc.health.v1 (the gateway itself and its deployments); the
            // readiness checks run when /readyz is asked, not every 5 s in the background.
            o.Predicate = static r => !r.Tags.Contains(Readiness.Tag);
        });
    }

    /// <summary>Public model name -> the upstream models its deployments price at (budget estimates).</summary>
    private static Func<string, IReadOnlyList<string>> PricedModels(GatewayOptions options)
    {
        var map = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var model in options.Models)
        {
            map[model.Name] = model.Deployments.Select(d => string.IsNullOrEmpty(d.UpstreamModel) ? model.Name : d.UpstreamModel).Distinct(StringComparer.Ordinal).ToArray();
        }

        // Routers and cascades price at whatever their targets do (a cascade's judge included);
        // cascades first, so that a router routing to a cascade sees its models.
        foreach (var kind in (string[])[ModelKinds.Cascade, ModelKinds.Router])
        {
            foreach (var model in options.Models)
            {
                if (model.Kind != kind)
                {
                    continue;
                }

                var targets = kind == ModelKinds.Router
                    ? model.Router.Routes.Values.ToList()
                    : [.. model.Cascade.Stages, .. model.Cascade.Gate.Judge is { } judge ? [judge.Model] : Array.Empty<string>()];
                map[model.Name] = targets.SelectMany(t => map.TryGetValue(t, out var models) ? models : []).Distinct(StringComparer.Ordinal).ToArray();
            }
        }

        return name => map.TryGetValue(name, out var models) ? models : [name];
    }

    private static void AddGovernance(IServiceCollection services, GatewayOptions options, SecretResolver secrets)
    {
        var masterKeyReference = options.Auth.MasterKey;
        var modelLimits = new Dictionary<string, LimitSettings>(StringComparer.Ordinal);
        foreach (var model in options.Models)
        {
            if (model.RequestsPerMinute is not null || model.TokensPerMinute is not null)
            {
                modelLimits[model.Name] = new LimitSettings { RequestsPerMinute = model.RequestsPerMinute, TokensPerMinute = model.TokensPerMinute };
            }
        }

        services.AddSingleton(sp => new GovernanceSettings
        {
            RequireKeys = options.Auth.RequireKeys ?? (!string.IsNullOrEmpty(masterKeyReference) || options.Auth.Jwt is not null),
            MasterKey = () => TryResolveSecret(sp.GetRequiredService<ISecretResolver>(), masterKeyReference),
            DefaultAlgorithm = GovernanceService.ParseAlgorithm(options.RateLimits.Algorithm),
            DefaultOutputReservation = options.RateLimits.DefaultOutputReservation,
            ModelLimits = modelLimits,
            CountPromptTokens = TokenEstimator.CountPrompt,
            PricedModelsOf = PricedModels(options),
            LedgerCommitWait = TimeSpan.FromMilliseconds(options.Store.LedgerCommitWaitMs),
        });
        // Created here (a connection string that cannot be resolved fails now); migrated by
        // GovernanceStoreMigrator when the host starts, where a store that cannot be opened or
        // migrated fails start-up with a GatewayConfigurationException naming the key to fix.
        var store = CreateGovernanceStore(options.Store, secrets);

        // Registered through a factory so the container owns it and disposes it at shutdown.
        services.AddSingleton<IGovernanceStore>(_ => store);
        // Migrations run when the host starts (before anything that writes, before Kestrel listens).
        services.AddSingleton(sp => new GovernanceStoreMigrator(sp.GetRequiredService<IGovernanceStore>(), options.Store));
        services.AddHostedService(sp => sp.GetRequiredService<GovernanceStoreMigrator>());
        services.AddSingleton(options.Shutdown);
        services.AddSingleton<ShutdownDrain>();
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(options.Shutdown.DrainDelaySeconds + options.Shutdown.GracePeriodSeconds));
        var readiness = services.AddHealthChecks()
            .AddCheck<ShutdownDrain>("shutdown", tags: [Readiness.Tag])
            .AddCheck<StoreReadinessCheck>("store", tags: [Readiness.Tag])
            .AddCheck<LedgerReadinessCheck>("ledger", tags: [Readiness.Tag]);
        services.AddSingleton(sp => new KeyAuthenticator(sp.GetRequiredService<IGovernanceStore>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<GovernanceSettings>().MasterKey));
        if (options.Auth.Jwt is { } jwtOptions)
        {
            AddJwt(services, jwtOptions);
        }

        services.AddSingleton<LocalRateLimitBackend>();
        if (options.RateLimits.Backend == "redis")
        {
            AddRedisGovernance(services, options, secrets, readiness);
        }
        else
        {
            services.AddSingleton<IRateLimitBackend>(sp => sp.GetRequiredService<LocalRateLimitBackend>());
            services.AddSingleton<BudgetTracker>();
        }

        services.AddHostedService(sp => sp.GetRequiredService<BudgetTracker>());
        services.AddSingleton<BudgetAlertNotifier>();
        services.AddSingleton<IPricing>(PricingTable.Default.WithOverrides(
            options.Pricing.Select(static p => KeyValuePair.Create(p.Key, p.Value.ToModelPrice()))));
        services.AddSingleton<LedgerWriter>();
        services.AddSingleton<ILedgerSink>(sp => sp.GetRequiredService<LedgerWriter>());
        services.AddHostedService(sp => sp.GetRequiredService<LedgerWriter>());
        services.AddSingleton<GovernanceService>();
    }

    /// <summary>
    /// Shared limits, budgets and key invalidation on Redis. A method of its own so that a gateway
    /// without Redis never loads StackExchange.Redis (the JIT loads the types a method names when it
    /// compiles that method).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AddRedisGovernance(IServiceCollection services, GatewayOptions options, SecretResolver secrets, IHealthChecksBuilder readiness)
    {
        var redisSettings = options.RateLimits.Redis;
        var passwordReference = redisSettings.Password;
        if (passwordReference is not null && TryResolveSecret(secrets, passwordReference) is null)
        {
            throw new GatewayConfigurationException($"Invalid gateway configuration: rateLimits:redis:password: '{passwordReference}' resolved to nothing; set that environment variable or create that file with the Redis password.");
        }

        var limitSettings = new RedisLimitSettings
        {
            Endpoint = redisSettings.Endpoint,
            User = redisSettings.User,
            // Read again after each connection failure, so a rotated secret is used on reconnection.
            Password = passwordReference is null ? null : () => secrets.Resolve(passwordReference),
            Database = redisSettings.Database,
            CommandTimeout = TimeSpan.FromMilliseconds(redisSettings.CommandTimeoutMs),
        };
        try
        {
            _ = RedisLimitConnection.CreateOptions(limitSettings);
        }
        catch (ArgumentException ex)
        {
            throw new GatewayConfigurationException("Invalid gateway configuration: rateLimits:redis: " + ex.Message);
        }

        // One multiplexer for the process. The hosted service starts connecting in the background:
        // start-up never waits for Redis, and a Redis that is down follows failOpen / failClosed.
        services.AddSingleton(sp => new RedisLimitConnection(limitSettings, sp.GetRequiredService<ILoggerFactory>()));
        services.AddHostedService(sp => sp.GetRequiredService<RedisLimitConnection>());
        var failOpen = options.RateLimits.FailOpen;
        readiness.Add(new HealthCheckRegistration("redis", sp => new RedisReadinessCheck(sp.GetRequiredService<RedisLimitConnection>(), failOpen), HealthStatus.Unhealthy, [Readiness.Tag]));
        services.AddSingleton<IRateLimitBackend>(sp => new FailoverRateLimitBackend(
            new RedisRateLimitBackend(sp.GetRequiredService<RedisLimitConnection>()),
            sp.GetRequiredService<LocalRateLimitBackend>(),
            options.RateLimits.FailOpen,
            sp.GetRequiredService<ILogger<FailoverRateLimitBackend>>()));
        // Budgets share the same Redis: counters every replica reserves against, reconciled
        // with the ledger; failOpen / failClosed as for the limits.
        services.AddSingleton(sp => new BudgetTracker(
            sp.GetRequiredService<IGovernanceStore>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<BudgetTracker>>(),
            new RedisBudgetBackend(sp.GetRequiredService<RedisLimitConnection>(), TimeSpan.FromSeconds(options.Budgets.ReservationTtlSeconds)),
            options.RateLimits.FailOpen,
            TimeSpan.FromSeconds(options.Budgets.ReconcileSeconds)));
        // Key revocations and updates reach the other replicas through pub/sub at once.
        services.AddSingleton<KeyInvalidationChannel>();
        services.AddHostedService(sp => sp.GetRequiredService<KeyInvalidationChannel>());
    }

    /// <summary>The named HttpClient that fetches a JWKS URL.</summary>
    internal const string JwksHttpClient = "gateway-jwks";

    private static void AddJwt(IServiceCollection services, JwtOptions jwt)
    {
        var settings = new JwtSettings
        {
            Issuer = jwt.Issuer!,
            Audiences = jwt.Audiences.Append(jwt.Audience).Where(static a => !string.IsNullOrWhiteSpace(a)).Select(static a => a!).Distinct(StringComparer.Ordinal).ToArray(),
            Jwks = jwt.Jwks!,
            TeamClaim = jwt.TeamClaim,
            ModelsClaim = jwt.ModelsClaim,
            SubjectClaim = jwt.SubjectClaim,
            ClockSkew = TimeSpan.FromSeconds(jwt.ClockSkewSeconds),
            RefreshInterval = TimeSpan.FromMinutes(jwt.RefreshMinutes),
            MinRefreshInterval = TimeSpan.FromSeconds(jwt.MinRefreshSeconds),
            Algorithms = jwt.Algorithms.Count > 0 ? jwt.Algorithms.Distinct(StringComparer.Ordinal).ToArray() : JwtSettings.AsymmetricAlgorithms,
        };
        var fromUrl = settings.JwksFilePath is null;
        if (fromUrl)
        {
            services.AddHttpClient(JwksHttpClient);
        }

        services.AddSingleton(sp =>
        {
            var clients = fromUrl ? sp.GetRequiredService<IHttpClientFactory>() : null;
            return new JwtAuthenticator(
                settings,
                sp.GetRequiredService<IGovernanceStore>(),
                clients is null ? null : () => clients.CreateClient(JwksHttpClient),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<JwtAuthenticator>>());
        });
    }

    // A method of its own: it names StackExchange.Redis types, loaded only when Redis is configured.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ValidateRedisCache(RedisCacheSettings redis)
    {
        try
        {
            _ = RedisCacheConnection.CreateOptions(redis);
        }
        catch (ArgumentException ex)
        {
            throw new GatewayConfigurationException("Invalid gateway configuration: cache:redis: " + ex.Message);
        }
    }

    /// <summary>
    /// The response cache: one <see cref="ResponseCache"/> whatever the settings (off, it plans
    /// nothing). Memory or Redis for answers; the MiniLM embedder and the bounded vector index
    /// only when the semantic cache is on (the model loads in the background at start-up).
    /// </summary>
    private static void AddResponseCache(IServiceCollection services, Gateway.Grpc.Caching.Configuration.CacheOptions cache, SecretResolver secrets)
    {
        RedisCacheSettings? redis = null;
        if (cache.Enabled && cache.Backend == "redis")
        {
            var passwordReference = cache.Redis.Password;
            var password = passwordReference is null ? null : TryResolveSecret(secrets, passwordReference)
                ?? throw new GatewayConfigurationException($"Invalid gateway configuration: cache:redis:password: '{passwordReference}' resolved to nothing; set that environment variable or create that file with the Redis password.");
            redis = new RedisCacheSettings
            {
                Endpoint = cache.Redis.Endpoint,
                User = cache.Redis.User,
                Password = password,
                Database = cache.Redis.Database,
                CommandTimeout = TimeSpan.FromMilliseconds(cache.Redis.CommandTimeoutMs),
            };
            ValidateRedisCache(redis);

            services.AddSingleton(sp => new RedisCacheConnection(redis, sp.GetRequiredService<ILoggerFactory>()));
        }

        var semantic = cache.Enabled && cache.Semantic.Enabled;
        if (semantic)
        {
            var embedder = cache.Semantic.Embedder;
            if (embedder.StartsWith(DeploymentEmbedder.Prefix, StringComparison.Ordinal))
            {
                services.AddSingleton<ITextEmbedder>(sp => new DeploymentEmbedder(
                    sp.GetRequiredService<ModelCatalog>(),
                    embedder[DeploymentEmbedder.Prefix.Length..],
                    sp.GetRequiredService<IPricing>(),
                    sp.GetRequiredService<ILedgerSink>(),
                    sp.GetRequiredService<TimeProvider>()));
            }
            else
            {
                services.TryAddSingleton<MiniLmEmbedder>();
                services.AddSingleton<ITextEmbedder>(sp => sp.GetRequiredService<MiniLmEmbedder>());
            }

            services.AddSingleton(sp => new VectorIndex(cache.Semantic.MaxEntries, sp.GetRequiredService<TimeProvider>()));
        }

        services.AddSingleton(sp => new CacheMetrics(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton(sp =>
        {
            var time = sp.GetRequiredService<TimeProvider>();
            ITextEmbedder? embedder = null;
            VectorIndex? index = null;
            if (semantic)
            {
                embedder = sp.GetRequiredService<ITextEmbedder>();
                index = sp.GetRequiredService<VectorIndex>();
                if (embedder is MiniLmEmbedder local)
                {
                    // Load the model off the request path, so the first call does not pay for it.
                    _ = Task.Run(local.Warm);
                }
            }

            return redis is null
                ? new ResponseCache(cache, new MemoryExactCache(cache.MaxBytes, time), embedder, index, sync: null, time, sp.GetRequiredService<CacheMetrics>(), sp.GetRequiredService<ILogger<ResponseCache>>())
                : RedisResponseCache(sp, cache, embedder, index, time);
        });
    }

    // A method of its own: it names StackExchange.Redis types, loaded only when Redis is configured.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ResponseCache RedisResponseCache(IServiceProvider sp, Gateway.Grpc.Caching.Configuration.CacheOptions cache, ITextEmbedder? embedder, VectorIndex? index, TimeProvider time)
    {
        var connection = sp.GetRequiredService<RedisCacheConnection>();
        var sync = index is null ? null : new SemanticSync(connection, index, time);
        return new ResponseCache(cache, new RedisExactCache(connection), embedder, index, sync, time, sp.GetRequiredService<CacheMetrics>(), sp.GetRequiredService<ILogger<ResponseCache>>());
    }

    private static IGovernanceStore CreateGovernanceStore(StoreOptions store, SecretResolver secrets)
    {
        switch (store.Kind)
        {
            case "sqlite":
                try
                {
                    return new SqliteGovernanceStore(store.Path);
                }
                catch (ArgumentException ex)
                {
                    throw new GatewayConfigurationException($"Invalid gateway configuration: store:path: {ex.Message}");
                }

            case "postgres":
                var connectionString = TryResolveSecret(secrets, store.ConnectionString)
                    ?? throw new GatewayConfigurationException($"Invalid gateway configuration: store:connectionString: '{store.ConnectionString}' resolved to nothing; set that environment variable or create that file with the PostgreSQL connection string.");
                try
                {
                    return new PostgresGovernanceStore(connectionString);
                }
                catch (ArgumentException ex)
                {
                    throw new GatewayConfigurationException("Invalid gateway configuration: " + ex.Message);
                }

            default:
                return new InMemoryGovernanceStore();
        }
    }


    /// <summary>
    /// <c>GATEWAY_*</c> variables that name a configuration key (<c>GATEWAY_GRPCADDRESS</c>,
    /// <c>GATEWAY_MODELS__0__NAME</c>). Others with the prefix, such as a secret referenced as
    /// <c>env:GATEWAY_MASTER_KEY</c> or <c>GATEWAY_CONFIG</c>, are not configuration and are skipped.
    /// </summary>
    private static Dictionary<string, string?> GatewayEnvironmentVariables()
    {
        var known = typeof(GatewayOptions).GetProperties().Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (System.Collections.DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            var name = (string)variable.Key;
            if (!name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var key = name[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal);
            var root = key.Split(':')[0];
            if (known.Contains(root))
            {
                values[key] = (string?)variable.Value;
            }
        }

        return values;
    }

    /// <summary>Resolves a secret reference now (env: and file: are read on each use); null when unset.</summary>
    private static string? TryResolveSecret(ISecretResolver secrets, string? reference)
    {
        if (string.IsNullOrEmpty(reference))
        {
            return null;
        }

        try
        {
            return secrets.Resolve(reference);
        }
        catch (SecretResolutionException)
        {
            return null;
        }
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

        ApplyDefaults(options);
        return options;
    }

    /// <summary>No model configured: the embedded simulated models, so the gateway runs with no set-up.</summary>
    private static void ApplyDefaults(GatewayOptions options)
    {
        if (options.Models.Count == 0)
        {
            options.Models = EmbeddedDefault.Models();
        }
    }

    private static void ConfigureLogging(ILoggingBuilder logging, GatewayOptions options)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        var minimumLevel = Enum.TryParse<LogLevel>(options.LogLevel, ignoreCase: true, out var parsed) ? parsed : LogLevel.Information;
        ScopelessConsoleLoggerProvider.Register(logging.Services, minimumLevel);
        logging.SetMinimumLevel(minimumLevel);
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        // An unready check is an answer of /readyz (with its reason), not an error to log each probe.
        logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", LogLevel.Critical);
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
