using Gateway.Grpc.Adapters.Anthropic;
using Gateway.Grpc.Adapters.Gemini;
using Gateway.Grpc.Adapters.Grpc;
using Gateway.Grpc.Adapters.OpenAI;
using Gateway.Grpc.Adapters.Secrets;
using Gateway.Grpc.Adapters.Simulated;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gateway.Grpc.Adapters;

public static class ProviderAdapterServiceCollectionExtensions
{
    /// <summary>
    /// Registers every provider adapter as <see cref="IProviderAdapter"/> (enumerable, and keyed
    /// by its provider name: openai, openai-compatible, azure-openai, anthropic, gemini, grpc,
    /// simulated), the embeddings adapters as <see cref="IEmbeddingsAdapter"/> (openai,
    /// openai-compatible, azure-openai, gemini), <see cref="ISecretResolver"/> and
    /// <see cref="SimulatedProvider"/>. HTTP adapters take their clients from IHttpClientFactory, one
    /// named client per deployment (<see cref="UpstreamHttpClients"/>).
    /// Idempotent. Do not also register SimulatedProvider as IProviderAdapter yourself.
    /// </summary>
    public static IServiceCollection AddProviderAdapters(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(ProviderAdaptersMarker)))
        {
            return services;
        }

        services.AddSingleton<ProviderAdaptersMarker>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ISecretResolver>(sp => new SecretResolver(sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new SimulatedProvider(sp.GetRequiredService<TimeProvider>()));
        // Upstream HTTP goes through IHttpClientFactory: one named client per deployment
        // (UpstreamHttpClients.NameFor), each on the gateway's SocketsHttpHandler unless the host
        // configures that name itself (a proxy, a client certificate, extra handlers).
        services.AddHttpClient();
        // No per-request logging handlers from the factory (a log scope and two log calls per
        // upstream request: about 1 KB and two async layers a call, even when the level filters
        // the lines out). The adapters log upstream failures themselves; a host that wants the
        // factory's lines back adds them to a client with AddDefaultLogger().
        services.ConfigureHttpClientDefaults(static builder => builder.RemoveAllLoggers());
        services.AddSingleton<IConfigureOptions<HttpClientFactoryOptions>, UpstreamHttpClients.Defaults>();

        Add(services, ProviderNames.Simulated, static sp => sp.GetRequiredService<SimulatedProvider>(), embeddings: false);
        Add(services, ProviderNames.OpenAI, static sp => OpenAI(sp, OpenAIFlavor.OpenAI), embeddings: true);
        Add(services, ProviderNames.OpenAICompatible, static sp => OpenAI(sp, OpenAIFlavor.Compatible), embeddings: true);
        Add(services, ProviderNames.AzureOpenAI, static sp => OpenAI(sp, OpenAIFlavor.Azure), embeddings: true);
        Add(services, ProviderNames.Anthropic, static sp => new AnthropicAdapter(Secrets(sp), Time(sp), Logger<AnthropicAdapter>(sp), clients: Clients(sp)), embeddings: false);
        Add(services, ProviderNames.Gemini, static sp => new GeminiAdapter(Secrets(sp), Time(sp), Logger<GeminiAdapter>(sp), clients: Clients(sp)), embeddings: true);
        Add(services, ProviderNames.Grpc, static sp => new GrpcUpstreamAdapter(Secrets(sp), Time(sp), Logger<GrpcUpstreamAdapter>(sp)), embeddings: false);
        return services;
    }

    private static void Add(IServiceCollection services, string name, Func<IServiceProvider, IProviderAdapter> factory, bool embeddings)
    {
        services.AddKeyedSingleton(name, (sp, _) => factory(sp));
        services.AddSingleton(sp => sp.GetRequiredKeyedService<IProviderAdapter>(name));
        if (embeddings)
        {
            services.AddKeyedSingleton(name, static (sp, key) => (IEmbeddingsAdapter)sp.GetRequiredKeyedService<IProviderAdapter>(key));
            services.AddSingleton(sp => sp.GetRequiredKeyedService<IEmbeddingsAdapter>(name));
        }
    }

    private static OpenAIChatAdapter OpenAI(IServiceProvider sp, OpenAIFlavor flavor) => new(flavor, Secrets(sp), Time(sp), Logger<OpenAIChatAdapter>(sp), clients: Clients(sp));

    private static IHttpClientFactory Clients(IServiceProvider sp) => sp.GetRequiredService<IHttpClientFactory>();

    private static ISecretResolver Secrets(IServiceProvider sp) => sp.GetRequiredService<ISecretResolver>();

    private static TimeProvider Time(IServiceProvider sp) => sp.GetRequiredService<TimeProvider>();

    private static ILogger<T> Logger<T>(IServiceProvider sp) => (sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance).CreateLogger<T>();

    private sealed class ProviderAdaptersMarker;
}
