using System.Globalization;
using BenchmarkDotNet.Running;
using Gateway.Grpc.Protocol.Benchmarks;

// dotnet run -c Release -- --sizes                       the workloads' sizes, for the README
// dotnet run -c Release -- --filter '*' --job short      all benchmarks (see README.md)
if (args is ["--sizes"])
{
    var chunks = GrpcPayloads.ChunkStream(FrameReadBenchmarks.Deltas);
    var request = GrpcPayloads.Request();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"chunk stream: {chunks.Count} frames, {GrpcPayloads.Frames(chunks).Length} B; text delta chunk: {chunks[1].CalculateSize()} B payload"));
    foreach (var segmentSize in new[] { 1024, 64 })
    {
        // A frame is split when its first and last byte fall in different segments.
        var (offset, split) = (0, 0);
        foreach (var chunk in chunks)
        {
            var end = offset + GrpcPayloads.HeaderSize + chunk.CalculateSize();
            split += offset / segmentSize != (end - 1) / segmentSize ? 1 : 0;
            offset = end;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {segmentSize} B segments: {split} of {chunks.Count} frames split"));
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"request: {request.CalculateSize()} B payload, gzip frame {GrpcPayloads.Frame(request, gzip: true).Length} B"));
    foreach (var provider in new[] { SseProvider.OpenAI, SseProvider.Anthropic })
    {
        var (body, events) = SseStreams.Create(provider, SseReaderBenchmarks.Deltas);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{provider} SSE body: {events.Count} events, {body.Length} B"));
    }

    return;
}

BenchmarkSwitcher.FromAssembly(typeof(FrameReadBenchmarks).Assembly).Run(args);
