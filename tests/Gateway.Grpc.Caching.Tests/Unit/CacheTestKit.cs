using Gateway.Grpc.Caching.Configuration;
using Gateway.Grpc.Caching.Exact;
using Gateway.Grpc.Caching.Semantic;
using System.Diagnostics.Metrics;
using Gateway.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Grpc.Caching.Tests.Unit;

/// <summary>Builds a <see cref="ResponseCache"/> over the memory store on a fake clock.</summary>
internal static class CacheTestKit
{
    /// <summary>One MiniLM encoder for the whole test run (the model takes ~1.5 s to load).</summary>
    public static readonly Lazy<MiniLmEmbedder> Embedder = new(static () => new MiniLmEmbedder());

    private static readonly IMeterFactory MeterFactory = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();

    public static CacheOptions Options(Action<CacheOptions>? configure = null)
    {
        var options = new CacheOptions { Enabled = true };
        configure?.Invoke(options);
        return options;
    }

    public static ResponseCache Create(CacheOptions options, FakeTimeProvider time, bool semantic = false)
        => new(
            options,
            new MemoryExactCache(options.MaxBytes, time),
            semantic ? Embedder.Value : null,
            semantic ? new VectorIndex(options.Semantic.MaxEntries, time) : null,
            null,
            time,
            new CacheMetrics(MeterFactory),
            NullLogger<ResponseCache>.Instance);

    public static CompletionRequest Request(string prompt = "What is the capital of France?", string model = "m")
        => new() { Model = model, Messages = { new Message { Role = Role.User, Content = prompt } } };

    public static CompletionResponse Answer(string text = "Paris.", FinishReason finish = FinishReason.Stop)
        => new()
        {
            Model = "gpt-4o-mini",
            Provider = "openai",
            Message = new Message { Role = Role.Assistant, Content = text },
            FinishReason = finish,
            Usage = new Usage { InputTokens = 12, OutputTokens = 3, CostUsd = 0.001 },
        };
}
