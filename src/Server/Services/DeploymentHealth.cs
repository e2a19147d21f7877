using Gateway.Grpc.Server.Dispatch;
using Grpc.HealthCheck;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace Gateway.Grpc.Server.Services;

/// <summary>
/// Deployment health in grpc.health.v1 (served by Grpc.AspNetCore.HealthChecks): one entry per
/// deployment, <c>deployment/&lt;name&gt;</c>, NOT_SERVING while its circuit is open or
/// isolated. <c>Check</c> runs <see cref="DeploymentHealthCheck"/> at once; <c>Watch</c> hears
/// of a circuit change when it happens (<see cref="Report"/> sets the status on the health
/// service), and the health-check publisher re-confirms every status periodically.
/// </summary>
internal sealed class DeploymentHealth(IServiceProvider services)
{
    public const string Prefix = "deployment/";
    public const string Tag = "deployment";

    private HealthServiceImpl? _health;

    /// <summary>A deployment's circuit changed: tell Watch callers now.</summary>
    public void Report(string deployment, bool serving)
    {
        _health ??= services.GetService(typeof(HealthServiceImpl)) as HealthServiceImpl;
        _health?.SetStatus(Prefix + deployment, serving ? ServingStatus.Serving : ServingStatus.NotServing);
    }
}

/// <summary>Healthy while the deployment's circuit is closed or half-open.</summary>
internal sealed class DeploymentHealthCheck(ModelCatalog catalog, string deployment) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(catalog.FindDeployment(deployment) switch
        {
            null => HealthCheckResult.Unhealthy($"Deployment '{deployment}' is not configured."),
            { CircuitState: Polly.CircuitBreaker.CircuitState.Open or Polly.CircuitBreaker.CircuitState.Isolated } runtime
                => HealthCheckResult.Unhealthy($"The circuit of deployment '{deployment}' is {runtime.CircuitState}."),
            _ => HealthCheckResult.Healthy(),
        });
}
