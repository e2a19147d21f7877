namespace Gateway.Grpc.Adapters;

/// <summary>
/// A provider that turns text into vectors. The gRPC contract has no embeddings RPC yet; the
/// REST layer (<c>POST /v1/embeddings</c>) calls this. Failures are <see cref="ProviderException"/>s
/// with the same normalized kinds as completions.
/// </summary>
public interface IEmbeddingsAdapter
{
    /// <summary>Provider kind, the same name as the completion adapter's, e.g. "openai", "gemini".</summary>
    string Provider { get; }

    Task<EmbeddingsResponse> EmbedAsync(EmbeddingsCall call, CancellationToken cancellationToken);
}

/// <summary>Texts to embed, in order. <paramref name="Inputs"/> must not be empty.</summary>
public sealed record EmbeddingsRequest(IReadOnlyList<string> Inputs)
{
    /// <summary>Ask for shorter vectors (OpenAI <c>dimensions</c>, Gemini <c>outputDimensionality</c>).</summary>
    public int? Dimensions { get; init; }

    /// <summary>End-user identifier (OpenAI <c>user</c>; ignored by Gemini).</summary>
    public string? User { get; init; }

    /// <summary>Gemini task type, e.g. RETRIEVAL_QUERY; ignored by OpenAI.</summary>
    public string? TaskType { get; init; }
}

/// <summary>An embeddings request bound to the deployment that will serve it.</summary>
public sealed record EmbeddingsCall(EmbeddingsRequest Request, DeploymentInfo Deployment);

/// <summary>One vector per input, in input order.</summary>
public sealed record EmbeddingsResponse(IReadOnlyList<float[]> Embeddings, string Model, int InputTokens)
{
    /// <summary>True when the provider did not report token usage and it was estimated.</summary>
    public bool Estimated { get; init; }
}
