using System.Globalization;
using BenchmarkDotNet.Running;
using Gateway.Grpc.Protocol.Benchmarks;

// dotnet run -c Release -- --sizes                       the workloads' sizes, for the README
// dotnet run -c Release -- --filter '*' --job short      all benchmarks (see README.md)
if (args is ["--sizes"])
{
    foreach (var provider in new[] { SseProvider.OpenAI, SseProvider.Anthropic })
    {
        var (body, events) = SseStreams.Create(provider, SseReaderBenchmarks.Deltas);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{provider} SSE body: {events.Count} events, {body.Length} B"));
    }

    return;
}

BenchmarkSwitcher.FromAssembly(typeof(SseReaderBenchmarks).Assembly).Run(args);
