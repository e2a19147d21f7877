using System.Text;
using BenchmarkDotNet.Attributes;
using Gateway.Grpc.Adapters.Streaming;

namespace Gateway.Grpc.Protocol.Benchmarks;

/// <summary>How the response body reaches the parser.</summary>
public enum SseDelivery
{
    /// <summary>The whole body from a <see cref="MemoryStream"/>, as few reads as the buffer allows.</summary>
    Whole,

    /// <summary>At most 61 bytes per read: every event is split across several reads.</summary>
    Chunks61B,
}

/// <summary>
/// Parsing a whole upstream event stream (200 text deltas plus the provider's framing events),
/// one parser per body as the adapters do. The baseline is the plain way: a
/// <see cref="StreamReader"/>, <c>ReadLineAsync</c>, a <see cref="StringBuilder"/> for the data
/// lines, and a string per event.
/// </summary>
[MemoryDiagnoser]
public class SseReaderBenchmarks
{
    public const int Deltas = 200;

    private MemoryStream _source = null!;
    private Stream _body = null!;

    [Params(SseProvider.OpenAI, SseProvider.Anthropic)]
    public SseProvider Provider { get; set; }

    [Params(SseDelivery.Whole, SseDelivery.Chunks61B)]
    public SseDelivery Delivery { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (body, expected) = SseStreams.Create(Provider, Deltas);
        _source = new MemoryStream(body, writable: false);
        _body = Delivery == SseDelivery.Whole ? _source : new ChunkedReadStream(_source, maxRead: 61);

        var expectedChars = 0;
        var expectedBytes = 0;
        foreach (var e in expected)
        {
            expectedChars += e.Data.Length;
            expectedBytes += Encoding.UTF8.GetByteCount(e.Data);
        }

        var events = new List<SseEvent>();
        Verify.Equal(nameof(StreamReaderReadLine), Run(ReadLinesAsync(events)), expected.Count + expectedChars);
        Verify.Sequence(nameof(StreamReaderReadLine), events, expected);

        events.Clear();
        Verify.Equal(nameof(SseReaderData), Run(ReadEventsAsync(decode: false, events)), expected.Count + expectedBytes);
        Verify.Sequence(nameof(SseReaderData), events, expected);

        events.Clear();
        Verify.Equal(nameof(SseReaderDataString), Run(ReadEventsAsync(decode: true, events)), expected.Count + expectedChars);
        Verify.Sequence(nameof(SseReaderDataString), events, expected);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _body.Dispose();
        _source.Dispose();
    }

    /// <summary>Reference: <c>StreamReader.ReadLineAsync</c>, data lines joined in a <see cref="StringBuilder"/>.</summary>
    [Benchmark(Baseline = true)]
    public ValueTask<int> StreamReaderReadLine() => ReadLinesAsync(capture: null);

    /// <summary>What the adapters do: events as UTF-8 bytes (<c>Data</c>) and the event name.</summary>
    [Benchmark]
    public ValueTask<int> SseReaderData() => ReadEventsAsync(decode: false, capture: null);

    /// <summary>Same, plus <c>DataString</c> per event: string output like the baseline's.</summary>
    [Benchmark]
    public ValueTask<int> SseReaderDataString() => ReadEventsAsync(decode: true, capture: null);

    /// <summary>Returns events + data bytes (or chars when decoding), so every event is accounted for.</summary>
    private async ValueTask<int> ReadEventsAsync(bool decode, List<SseEvent>? capture)
    {
        _source.Position = 0;
        var sse = new SseReader(_body);
        await using (sse)
        {
            var sum = 0;
            while (await sse.ReadAsync(CancellationToken.None))
            {
                sum += 1 + (decode ? sse.DataString.Length : sse.Data.Length);
                capture?.Add(new SseEvent(sse.EventName, sse.DataString));
            }

            return sum;
        }
    }

    /// <summary>WHATWG §9.2.6 the naive way: a string per line, a string per event. Returns events + data chars.</summary>
    private async ValueTask<int> ReadLinesAsync(List<SseEvent>? capture)
    {
        _source.Position = 0;
        using var reader = new StreamReader(_body, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: -1, leaveOpen: true);
        var data = new StringBuilder();
        var hasData = false;
        string? eventName = null;
        var sum = 0;
        while (await reader.ReadLineAsync(CancellationToken.None) is { } line)
        {
            if (line.Length == 0)
            {
                if (hasData)
                {
                    var text = data.ToString();
                    sum += 1 + text.Length;
                    capture?.Add(new SseEvent(eventName, text));
                }

                data.Clear();
                hasData = false;
                eventName = null;
                continue;
            }

            if (line[0] == ':')
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' '))
            {
                value = value[1..];
            }

            if (field == "data")
            {
                if (hasData)
                {
                    data.Append('\n');
                }

                data.Append(value);
                hasData = true;
            }
            else if (field == "event")
            {
                eventName = value;
            }
        }

        return sum;
    }

    private static int Run(ValueTask<int> task) => task.AsTask().GetAwaiter().GetResult();
}
