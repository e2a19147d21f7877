using Gateway.Grpc.Console.Configuration;
using Gateway.Grpc.Console.Internal;
using Gateway.Grpc.Observability.AccessLog;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Console;

/// <summary>Registers and maps the web console.</summary>
public static class ConsoleServiceCollectionExtensions
{
    /// <summary>
    /// The console's services, with <typeparamref name="TBackend"/> as its view of the host. Call
    /// after the observability services: the access log is wrapped so finished calls also reach the live tail.
    /// </summary>
    internal static IServiceCollection AddGatewayConsole<TBackend>(this IServiceCollection services, ConsoleOptions options)
        where TBackend : class, IConsoleBackend
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(options);
        services.AddSingleton<IConsoleBackend, TBackend>();
        services.AddSingleton<ConsoleAssets>();
        services.AddSingleton<ConsoleSessions>();
        services.AddSingleton<SignInThrottle>();
        services.AddSingleton<SpendReport>();
        services.AddSingleton<TrafficLog>();

        var accessLog = services.LastOrDefault(static d => d.ServiceType == typeof(IAccessLog))
            ?? throw new InvalidOperationException("AddGatewayConsole needs the observability services (IAccessLog) registered first.");
        services.Remove(accessLog);
        services.AddSingleton<IAccessLog>(sp => new TrafficTap(Create(accessLog, sp), sp.GetRequiredService<TrafficLog>()));
        return services;
    }

    /// <summary>Maps <c>/ui</c> (pages, assets, <c>/ui/api/*</c>).</summary>
    public static IEndpointRouteBuilder MapGatewayConsole(this IEndpointRouteBuilder endpoints)
    {
        ConsoleEndpoints.Map(endpoints);
        return endpoints;
    }

    private static IAccessLog Create(ServiceDescriptor descriptor, IServiceProvider services)
        => (IAccessLog)(descriptor.ImplementationInstance
            ?? descriptor.ImplementationFactory?.Invoke(services)
            ?? ActivatorUtilities.CreateInstance(services, descriptor.ImplementationType!));
}
