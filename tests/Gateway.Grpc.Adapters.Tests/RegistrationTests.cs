using Gateway.Grpc.Adapters.Simulated;
using Microsoft.Extensions.DependencyInjection;

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
}
