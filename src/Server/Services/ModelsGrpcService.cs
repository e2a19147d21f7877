using Gateway.Grpc.Governance;
using Gateway.Grpc.Governance.Keys;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Pipeline;
using Gateway.V1;
using Grpc.Core;

namespace Gateway.Grpc.Server.Services;

/// <summary>The model list behind gateway.v1.Models and OpenAI's <c>GET /v1/models</c>.</summary>
internal sealed class ModelsQuery(ModelCatalog catalog, GovernanceService governance)
{
    /// <summary>The models the caller's key may use (all of them in open mode or with the master key).</summary>
    public async Task<ListModelsResponse> ListAsync(string? apiKey, CancellationToken cancellationToken)
    {
        // Same authentication as completions; a key sees only the models it may use.
        var principal = await governance.AuthenticateAsync(apiKey, cancellationToken).ConfigureAwait(false);
        return List(principal);
    }

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

/// <summary>gateway.v1.Models over gRPC, gRPC-Web and JSON transcoding (<c>GET /v1/gateway/models</c>).</summary>
internal sealed class ModelsGrpcService(ModelsQuery models) : Models.ModelsBase
{
    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
        => models.ListAsync(CallerHeaders.ApiKey(context.GetHttpContext().Request), context.CancellationToken);
}
