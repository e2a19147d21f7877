namespace Gateway.Grpc.Simulator.Generation;

/// <summary>Deterministic unit-length embedding vectors: a function of (model, text, dimensions).</summary>
internal static class EmbeddingVectors
{
    public const int MaxDimensions = 8192;

    public static float[] Create(string model, string text, int dimensions)
    {
        var hash = new Fnv64();
        hash.Add(model);
        hash.Add(text);
        var random = new DeterministicRandom(hash.Value);
        var vector = new float[dimensions];
        double norm = 0;
        for (var i = 0; i < dimensions; i++)
        {
            var value = random.NextSignedFloat();
            vector[i] = value;
            norm += value * value;
        }

        var scale = norm > 0 ? (float)(1.0 / Math.Sqrt(norm)) : 0f;
        for (var i = 0; i < dimensions; i++)
        {
            vector[i] *= scale;
        }

        return vector;
    }

    /// <summary>The model's native size: 3072 for *-3-large and gemini-embedding-001, 768 for text-embedding-004, else 1536.</summary>
    public static int DefaultDimensions(string model)
    {
        if (model.Contains("3-large", StringComparison.OrdinalIgnoreCase) || model.Contains("gemini-embedding", StringComparison.OrdinalIgnoreCase))
        {
            return 3072;
        }

        return model.Contains("text-embedding-004", StringComparison.OrdinalIgnoreCase) || model.Contains("embedding-001", StringComparison.OrdinalIgnoreCase) ? 768 : 1536;
    }
}
