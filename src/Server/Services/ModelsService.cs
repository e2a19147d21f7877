using Gateway.Grpc.Governance;
using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Protocol.Server;
using Gateway.Grpc.Server.Dispatch;
using Gateway.V1;

namespace Gateway.Grpc.Server.Services;

/// <summary>gateway.v1.Models.</summary>
internal sealed class ModelsService(ModelCatalog catalog, GovernanceService governance)
{
    public ServerServiceDefinition CreateDefinition()
        => ServerServiceDefinition.CreateBuilder(ModelsMethods.ServiceName, ModelsReflection.Descriptor)
            .AddMethod(ModelsMethods.ListModels, async (ListModelsRequest _, ServerCallContext context) =>
            {
                // Same authentication as completions; a key sees only the models it may use.
                var principal = await governance.AuthenticateAsync(AdminService.BearerToken(context.RequestHeaders), context.CancellationToken).ConfigureAwait(false);
                return List(principal);
            })
            .Build();

    public ListModelsResponse List(Principal? principal = null)
    {
        var response = new ListModelsResponse();
        foreach (var group in catalog.Groups)
        {
            if (principal is not null && !principal.IsModelAllowed(group.Name))
            {
                continue;
            }

            var model = new Model { Id = group.Name, OwnedBy = group.OwnedBy, ContextWindow = group.ContextWindow };
            foreach (var deployment in group.Deployments)
            {
                model.Deployments.Add(new DeploymentStatus { Name = deployment.Info.Name, Provider = deployment.Info.Provider, State = deployment.CircuitState switch { Polly.CircuitBreaker.CircuitState.Open or Polly.CircuitBreaker.CircuitState.Isolated => DeploymentState.Open, Polly.CircuitBreaker.CircuitState.HalfOpen => DeploymentState.HalfOpen, _ => DeploymentState.Healthy } });
            }

            response.Models.Add(model);
        }

        return response;
    }
}
