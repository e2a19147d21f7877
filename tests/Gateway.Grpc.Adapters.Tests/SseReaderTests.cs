using System.Text;
using Gateway.Grpc.Adapters.Streaming;

namespace Gateway.Grpc.Adapters.Tests;

public sealed class SseReaderTests
{
    private static async Task<List<(string? Name, string Data)>> ReadAll(Stream stream)
    {
        var events = new List<(string?, string)>();
        await using var reader = new SseReader(stream);
        while (await reader.ReadAsync(CancellationToken.None))
        {
            events.Add((reader.EventName, reader.DataString));
        }

        return events;
    }

    private static Task<List<(string? Name, string Data)>> ReadAll(string text, int bytesPerRead = int.MaxValue)
        => ReadAll(new TrickleStream(Encoding.UTF8.GetBytes(text), bytesPerRead));

    [Fact]
    public async Task MultiLineData_JoinedWithLineFeed()
    {
        var events = await ReadAll("data: first\ndata: second\ndata:third\n\n");
        Assert.Equal([(null, "first\nsecond\nthird")], events);
    }

    [Fact]
    public async Task EventNamesCommentsIdRetry_NamesKeptOthersIgnored()
    {
        var events = await ReadAll(": keep-alive comment\nid: 7\nretry: 1000\nevent: message_start\ndata: {\"a\":1}\n\nevent: ping\ndata: {}\n\ndata: plain\n\n");
        Assert.Equal([("message_start", "{\"a\":1}"), ("ping", "{}"), (null, "plain")], events);
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    [InlineData("\r")]
    public async Task LineEndings_AllParseTheSame(string eol)
    {
        var text = $"event: a{eol}data: x{eol}data: y{eol}{eol}data: z{eol}{eol}";
        var events = await ReadAll(text);
        Assert.Equal([("a", "x\ny"), (null, "z")], events);
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    [InlineData("\r")]
    public async Task OneBytePerRead_SameEventsAsWholeBuffer(string eol)
    {
        var text = $": hi{eol}event: content_block_delta{eol}data: {{\"text\":\"héllo wörld ✓\"}}{eol}{eol}{eol}{eol}data: [DONE]{eol}{eol}";
        var stream = new TrickleStream(Encoding.UTF8.GetBytes(text), 1);
        var events = await ReadAll(stream);
        Assert.Equal([("content_block_delta", "{\"text\":\"héllo wörld ✓\"}"), (null, "[DONE]")], events);
        Assert.True(stream.Reads >= text.Length, "the stream really was read one byte at a time");
    }

    [Fact]
    public async Task CrLfSplitAcrossReads_IsOneLineEnding()
    {
        // "data: a\r" then "\ndata: b\r\n\r\n": the LF after the split CR must not end a second (blank) line.
        var events = await ReadAll("data: a\r\ndata: b\r\n\r\n", bytesPerRead: 8);
        Assert.Equal([(null, "a\nb")], events);
    }

    [Fact]
    public async Task KeepAliveBlankLines_DispatchNothing()
    {
        var events = await ReadAll("\n\n\n: ping\n\nevent: only-name\n\ndata: real\n\n");
        Assert.Equal([(null, "real")], events);
    }

    [Fact]
    public async Task PartialEventAtEnd_IsDiscarded()
    {
        var events = await ReadAll("data: complete\n\ndata: partial\n");
        Assert.Equal([(null, "complete")], events);
    }

    [Fact]
    public async Task FieldWithoutColonOrSpace_Handled()
    {
        var events = await ReadAll("data\ndata:no-space\ndata:  two-spaces\n\n");
        Assert.Equal([(null, "\nno-space\n two-spaces")], events);
    }

    [Fact]
    public async Task LargeEventAcrossManyReads_Assembled()
    {
        var big = new string('x', 100_000);
        var events = await ReadAll($"data: {big}\n\n", bytesPerRead: 777);
        Assert.Equal(big, Assert.Single(events).Data);
    }

    [Fact]
    public async Task EventOverLimit_Throws()
    {
        await using var reader = new SseReader(new MemoryStream(Encoding.UTF8.GetBytes("data: " + new string('x', 100) + "\n\n")), maxEventSize: 50);
        await Assert.ThrowsAsync<InvalidDataException>(async () => await reader.ReadAsync(CancellationToken.None));
    }
}
