using Gateway.Grpc.Adapters;
using Gateway.Grpc.Governance;
using Grpc.Core;
using Gateway.Grpc.Server.Dispatch;
using Gateway.V1;

namespace Gateway.Grpc.Server.Services;

/// <summary>
/// Embeddings through the same gate as completions: authentication, the model allow-list,
/// budgets and rate limits (the inputs count as the prompt), spend and a ledger row. The call
/// goes to the model group's deployments whose adapter serves embeddings, moving to the next one
/// on a retryable failure.
/// </summary>
internal sealed class EmbeddingsService(ModelCatalog catalog, GovernanceService governance)
{
    public async Task<(EmbeddingsResponse Response, string Deployment)> EmbedAsync(string? presentedKey, EmbeddingsRequest request, string model, string requestId, CancellationToken cancellationToken)
    {
        if (request.Inputs.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "input: must contain at least one text."));
        }

        var principal = await governance.AuthenticateAsync(presentedKey, cancellationToken).ConfigureAwait(false);
        if (!catalog.TryGet(model, out var group))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"model: '{model}' not found. Available models: {string.Join(", ", catalog.Names)}."));
        }

        var candidates = group.Deployments.Where(d => d.IsAvailable && d.Adapter is IEmbeddingsAdapter).ToArray();
        if (candidates.Length == 0)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"model: '{model}' has no deployment whose provider serves embeddings."), new Metadata { { ErrorMapping.ErrorKindTrailer, "embeddings_not_supported" } });
        }

        // Admitted like a completion whose prompt is the inputs and whose output is nothing.
        var asCompletion = new CompletionRequest { Model = model, MaxTokens = 1 };
        foreach (var input in request.Inputs)
        {
            asCompletion.Messages.Add(new Message { Role = Role.User, Content = input });
        }

        var admission = await governance.AdmitAsync(principal, asCompletion, new CallInfo(requestId, "rest", false), cancellationToken).ConfigureAwait(false);
        var outcome = new CallOutcome { Status = StatusCode.Unknown };
        try
        {
            var start = (int)((uint)group.NextRoundRobin() % (uint)candidates.Length);
            ProviderException? last = null;
            for (var i = 0; i < candidates.Length; i++)
            {
                var deployment = candidates[(start + i) % candidates.Length];
                try
                {
                    var response = await ((IEmbeddingsAdapter)deployment.Adapter).EmbedAsync(new EmbeddingsCall(request, deployment.Info), cancellationToken).ConfigureAwait(false);
                    outcome = new CallOutcome
                    {
                        Status = StatusCode.OK,
                        Deployment = deployment.Info.Name,
                        Provider = deployment.Info.Provider,
                        PricedModel = deployment.Info.UpstreamModel,
                        InputTokens = response.InputTokens,
                        Estimated = response.Estimated,
                        Attempts = i + 1,
                    };
                    return (response, deployment.Info.Name);
                }
                catch (ProviderException ex) when (ModelGroup.IsRetryable(ex.Kind))
                {
                    last = ex;
                }
            }

            throw ErrorMapping.ToRpcException(last!, $"model '{model}'");
        }
        catch (ProviderException ex)
        {
            var rpc = ErrorMapping.ToRpcException(ex, $"model '{model}'");
            outcome = outcome with { Status = rpc.StatusCode };
            throw rpc;
        }
        catch (RpcException ex)
        {
            outcome = outcome with { Status = ex.StatusCode };
            throw;
        }
        finally
        {
            await admission.CompleteAsync(outcome).ConfigureAwait(false);
        }
    }
}
