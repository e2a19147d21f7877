using Gateway.Grpc.Protocol.Server.Health;
using Gateway.Grpc.Protocol.Server.Internal;
using Gateway.Grpc.Protocol.Server.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Grpc.Protocol.Server;

public static class GrpcServerExtensions
{
    /// <summary>Adds the gRPC server: service registry, options, health status.</summary>
    public static IServiceCollection AddGrpcServer(this IServiceCollection services, Action<GrpcServerOptions>? configure = null)
    {
        services.AddOptions<GrpcServerOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<GrpcServiceRegistry>();
        services.TryAddSingleton<HealthStatusRegistry>();
        return services;
    }

    /// <summary>Maps a service. Call before the app starts.</summary>
    public static IApplicationBuilder MapGrpcService(this IApplicationBuilder app, ServerServiceDefinition service)
    {
        app.ApplicationServices.GetRequiredService<GrpcServiceRegistry>().Add(service);
        app.ApplicationServices.GetRequiredService<HealthStatusRegistry>().SetStatus(service.ServiceName, global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving);
        return app;
    }

    /// <summary>Maps grpc.health.v1.Health.</summary>
    public static IApplicationBuilder MapGrpcHealthService(this IApplicationBuilder app)
        => app.MapGrpcService(HealthService.CreateDefinition(app.ApplicationServices.GetRequiredService<HealthStatusRegistry>()));

    /// <summary>Maps server reflection v1 and v1alpha over every mapped service's descriptor.</summary>
    public static IApplicationBuilder MapGrpcReflectionService(this IApplicationBuilder app)
    {
        var registry = app.ApplicationServices.GetRequiredService<GrpcServiceRegistry>();
        var service = new ReflectionService(registry);
        app.MapGrpcService(service.CreateDefinition(ReflectionService.V1ServiceName));
        app.MapGrpcService(service.CreateDefinition(ReflectionService.V1AlphaServiceName));
        return app;
    }

    /// <summary>Adds the gRPC dispatcher to the pipeline; non-gRPC requests pass through.</summary>
    public static IApplicationBuilder UseGrpcServer(this IApplicationBuilder app)
        => app.UseMiddleware<GrpcDispatcherMiddleware>();
}
