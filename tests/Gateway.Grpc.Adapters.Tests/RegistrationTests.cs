using System.Collections.Concurrent;
using Gateway.Grpc.Adapters.Http;
using Gateway.Grpc.Adapters.Simulated;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Adapters.Tests;

public sealed class RegistrationTests
{
    [Fact]
    public void AddProviderAdapters_EveryProviderOnceByNameAndKey()
    {
        var services = new ServiceCollection();
        services.AddProviderAdapters();
        services.AddProviderAdapters();
        using var provider = services.BuildServiceProvider();
        var adapters = provider.GetServices<IProviderAdapter>().ToList();
        Assert.Equal(ProviderNames.All.Order(StringComparer.Ordinal), adapters.Select(a => a.Provider).Order(StringComparer.Ordinal));
        foreach (var name in ProviderNames.All)
        {
            Assert.Same(adapters.Single(a => a.Provider == name), provider.GetRequiredKeyedService<IProviderAdapter>(name));
        }

        Assert.Same(provider.GetRequiredService<SimulatedProvider>(), provider.GetRequiredKeyedService<IProviderAdapter>("simulated"));
        Assert.Equal(["azure-openai", "gemini", "openai", "openai-compatible"], provider.GetServices<IEmbeddingsAdapter>().Select(e => e.Provider).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task UpstreamClients_NoPerRequestLoggingHandlers()
    {
        // The factory's logging handlers would write "Start processing HTTP request ..." (and a
        // scope) for every upstream request, before it is even sent.
        var categories = new ConcurrentBag<string>();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new CategoryRecorder(categories)));
        services.AddProviderAdapters();
        using var provider = services.BuildServiceProvider();
        using var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient(UpstreamHttpClients.NameFor("dep"));

        // Nothing listens on port 1 here: the request fails, after the handlers would have logged.
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("http://127.0.0.1:1/")));
        Assert.DoesNotContain(categories, c => c.StartsWith("System.Net.Http.HttpClient", StringComparison.Ordinal));
    }

    private sealed class CategoryRecorder(ConcurrentBag<string> categories) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Recorder(categories, categoryName);

        public void Dispose()
        {
        }

        private sealed class Recorder(ConcurrentBag<string> categories, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull
            {
                categories.Add(category);
                return null;
            }

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => categories.Add(category);
        }
    }
}
