using Gateway.Grpc.Protocol.Server;
using Gateway.Grpc.Server.Dispatch;
using Gateway.V1;

namespace Gateway.Grpc.Server.Services;

/// <summary>gateway.v1.Models.</summary>
internal sealed class ModelsService(ModelCatalog catalog)
{
    public ServerServiceDefinition CreateDefinition()
        => ServerServiceDefinition.CreateBuilder(ModelsMethods.ServiceName, ModelsReflection.Descriptor)
            .AddMethod(ModelsMethods.ListModels, (ListModelsRequest _, Gateway.Grpc.Protocol.Server.ServerCallContext _) => Task.FromResult(List()))
            .Build();

    public ListModelsResponse List()
    {
        var response = new ListModelsResponse();
        foreach (var group in catalog.Groups)
        {
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
