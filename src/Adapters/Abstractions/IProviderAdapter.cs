using Gateway.V1;

namespace Gateway.Grpc.Adapters;

/// <summary>
/// One upstream provider. The dispatcher hands it a validated request and the deployment to
/// serve it; the adapter speaks the provider's wire format and answers in gateway.v1 terms.
/// Failures are thrown as <see cref="ProviderException"/> with a normalized kind.
/// </summary>
public interface IProviderAdapter
{
    /// <summary>Provider kind, e.g. "simulated", "openai".</summary>
    string Provider { get; }

    /// <summary>Runs a whole completion. The result has no id/routing: the gateway fills those.</summary>
    Task<CompletionResponse> CompleteAsync(ProviderCall call, CancellationToken cancellationToken);

    /// <summary>
    /// Streams a completion as events: any number of <c>delta</c> / <c>tool_call_delta</c>,
    /// then <c>usage</c>, then <c>finish</c> last. Ending without <c>finish</c> is an error the
    /// caller reports as stream_interrupted.
    /// </summary>
    IAsyncEnumerable<CompletionChunk> StreamAsync(ProviderCall call, CancellationToken cancellationToken);

    /// <summary>
    /// True when <see cref="CompleteAsync"/> ends the call at <see cref="ProviderCall.Timeout"/>
    /// itself (failing it as <see cref="ProviderErrorKind.Timeout"/>), so the dispatcher starts no
    /// timer of its own for a unary attempt. False (the default): the dispatcher's timer cancels
    /// the token instead.
    /// </summary>
    bool EnforcesTimeout => false;
}

/// <summary>A request bound to the deployment that will serve it.</summary>
public sealed record ProviderCall(CompletionRequest Request, DeploymentInfo Deployment)
{
    /// <summary>
    /// How long a unary call may take: the attempt's timeout, cut to what is left of the caller's
    /// deadline. Null: only the deployment's own <c>timeout_ms</c> applies (and for streams, whose
    /// first-token limit the dispatcher keeps).
    /// </summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>The shorter of <see cref="Timeout"/> and the deployment's configured limit.</summary>
    public TimeSpan TimeoutWithin(TimeSpan configured) => Timeout is { } limit && limit < configured ? limit : configured;
}

/// <summary>What an adapter needs to know about its deployment.</summary>
public sealed record DeploymentInfo(string Name, string Provider, string UpstreamModel)
{
    /// <summary>Provider-specific settings (base URL, simulated timings...).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();
}
