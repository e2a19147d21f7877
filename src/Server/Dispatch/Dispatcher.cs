using System.Diagnostics;
using Gateway.Grpc.Adapters;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;

namespace Gateway.Grpc.Server.Dispatch;

/// <summary>
/// Sends a request to one deployment of its model group and records the attempt. Retries,
/// fallback, circuit breaking and hedging build on this (see docs/ROUTING.md when they land).
/// </summary>
internal sealed class Dispatcher(TimeProvider timeProvider)
{
    public async Task<(CompletionResponse Response, RoutingInfo Routing)> CompleteAsync(ModelGroup group, CompletionRequest request, CancellationToken cancellationToken)
    {
        var deployment = Choose(group, request);
        var attempt = NewAttempt(1, deployment);
        var started = timeProvider.GetTimestamp();
        try
        {
            var response = await deployment.Adapter.CompleteAsync(new ProviderCall(request, deployment.Info), cancellationToken).ConfigureAwait(false);
            attempt.Outcome = AttemptOutcome.Success;
            return (response, Routing(deployment, attempt, started));
        }
        catch (ProviderException ex)
        {
            attempt.Outcome = AttemptOutcome.Failed;
            attempt.Error = ex.KindName;
            throw ErrorMapping.ToRpcException(ex, deployment.Info.Name);
        }
    }

    /// <summary>Opens a stream; the returned enumerator has already produced its first event.</summary>
    public StreamAttempt Stream(ModelGroup group, CompletionRequest request, CancellationToken cancellationToken)
    {
        var deployment = Choose(group, request);
        return new StreamAttempt(deployment, NewAttempt(1, deployment), timeProvider, deployment.Adapter.StreamAsync(new ProviderCall(request, deployment.Info), cancellationToken).GetAsyncEnumerator(cancellationToken));
    }

    private static Deployment Choose(ModelGroup group, CompletionRequest request)
    {
        if (request.Routing is { Deployment.Length: > 0 } routing)
        {
            return group.Find(routing.Deployment)
                ?? throw new Protocol.RpcException(new Protocol.Status(Protocol.StatusCode.InvalidArgument, $"routing.deployment: '{routing.Deployment}' is not a deployment of model '{group.Name}'."));
        }

        return group.Pick();
    }

    private static Attempt NewAttempt(int number, Deployment deployment) => new()
    {
        Number = number,
        Deployment = deployment.Info.Name,
        Provider = deployment.Info.Provider,
    };

    private RoutingInfo Routing(Deployment deployment, Attempt attempt, long started)
    {
        attempt.Latency = Duration.FromTimeSpan(timeProvider.GetElapsedTime(started));
        return new RoutingInfo { Deployment = deployment.Info.Name, Provider = deployment.Info.Provider, Attempts = { attempt } };
    }

    internal sealed class StreamAttempt(Deployment deployment, Attempt attempt, TimeProvider timeProvider, IAsyncEnumerator<CompletionChunk> events) : IAsyncDisposable
    {
        private readonly long _started = timeProvider.GetTimestamp();

        public Deployment Deployment { get; } = deployment;

        public IAsyncEnumerator<CompletionChunk> Events { get; } = events;

        public RoutingInfo Finish(AttemptOutcome outcome, string? error = null)
        {
            attempt.Outcome = outcome;
            if (error is not null)
            {
                attempt.Error = error;
            }

            attempt.Latency = Duration.FromTimeSpan(timeProvider.GetElapsedTime(_started));
            return new RoutingInfo { Deployment = Deployment.Info.Name, Provider = Deployment.Info.Provider, Attempts = { attempt } };
        }

        public ValueTask DisposeAsync() => Events.DisposeAsync();
    }
}
