using Gateway.Grpc.Client.Internal;
using Gateway.V1;
using Grpc.Health.V1;
using Grpc.Net.ClientFactory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.Grpc.Client;

/// <summary>The gateway clients <see cref="GatewayClientServiceCollectionExtensions.AddGatewayClients"/> registered, to configure further.</summary>
public sealed class GatewayClientBuilder
{
    internal GatewayClientBuilder(IServiceCollection services, IHttpClientBuilder completion, IHttpClientBuilder models, IHttpClientBuilder health)
    {
        Services = services;
        Completion = completion;
        Models = models;
        Health = health;
    }

    /// <summary>The service collection the clients were added to.</summary>
    public IServiceCollection Services { get; }

    /// <summary>The <c>Completion.CompletionClient</c> registration (add interceptors, handlers, channel options).</summary>
    public IHttpClientBuilder Completion { get; }

    /// <summary>The <c>Models.ModelsClient</c> registration.</summary>
    public IHttpClientBuilder Models { get; }

    /// <summary>The <c>Health.HealthClient</c> (grpc.health.v1) registration.</summary>
    public IHttpClientBuilder Health { get; }

    /// <summary>Applies <paramref name="configure"/> to every client registration.</summary>
    public GatewayClientBuilder ConfigureEach(Action<IHttpClientBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        configure(Completion);
        configure(Models);
        configure(Health);
        return this;
    }
}

/// <summary>Registers the generated gateway clients with Grpc.Net.ClientFactory.</summary>
public static class GatewayClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <c>Completion.CompletionClient</c>, <c>Models.ModelsClient</c> and
    /// <c>Health.HealthClient</c> (grpc.health.v1) for the gateway at
    /// <see cref="GatewayClientOptions.Address"/>, each with <see cref="GatewayCallInterceptor"/>
    /// (API key, default deadline) and the <see cref="GatewayClientOptions.ServiceConfig"/>.
    /// Options are validated when a client is first created (or at host start).
    /// </summary>
    /// <example>
    /// <code>
    /// services.AddGatewayClients(o =>
    /// {
    ///     o.Address = new Uri("http://127.0.0.1:50051");
    ///     o.ApiKey = configuration["Gateway:ApiKey"];
    /// });
    /// // then inject Completion.CompletionClient
    /// </code>
    /// </example>
    public static GatewayClientBuilder AddGatewayClients(this IServiceCollection services, Action<GatewayClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<GatewayClientOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayClientOptions>, GatewayClientOptionsValidator>());
        services.TryAddSingleton(static sp => new GatewayCallInterceptor(sp.GetRequiredService<IOptions<GatewayClientOptions>>().Value));
        return new GatewayClientBuilder(services, Add<Completion.CompletionClient>(services), Add<Models.ModelsClient>(services), Add<Health.HealthClient>(services));
    }

    private static IHttpClientBuilder Add<TClient>(IServiceCollection services)
        where TClient : class
        => services
            .AddGrpcClient<TClient>(static (sp, o) => o.Address = sp.GetRequiredService<IOptions<GatewayClientOptions>>().Value.Address)
            .ConfigureChannel(static (sp, channel) => channel.ServiceConfig = sp.GetRequiredService<IOptions<GatewayClientOptions>>().Value.ServiceConfig)
            .AddInterceptor(static sp => sp.GetRequiredService<GatewayCallInterceptor>())
            .ConfigurePrimaryHttpMessageHandler(GatewayHttpHandler.Create);
}
