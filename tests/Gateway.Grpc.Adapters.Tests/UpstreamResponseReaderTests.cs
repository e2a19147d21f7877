using System.Buffers;
using Gateway.Grpc.Adapters.Grpc;
using Gateway.V1;
using Google.Protobuf;

namespace Gateway.Grpc.Adapters.Tests;

/// <summary>
/// The gRPC upstream's response reader gives what the library's parser gives for every field
/// the adapter keeps, and hands anything unexpected to the library's parser.
/// </summary>
public sealed class UpstreamResponseReaderTests
{
    private static CompletionResponse Full(string model = "upstream-model") => new()
    {
        Id = "cmpl-0123456789abcdef0123",
        Model = model,
        Provider = "openai",
        Message = new Message
        {
            Role = Role.Assistant,
            Content = "Hello there, héllo ✓",
            ToolCalls = { new ToolCall { Id = "call_1", Name = "lookup", ArgumentsJson = "{\"q\":1}" } },
        },
        FinishReason = FinishReason.ToolCalls,
        Usage = new Usage { InputTokens = 12, OutputTokens = 300, CachedInputTokens = 4 },
        Routing = new RoutingInfo { Deployment = "upstream-dep", Provider = "openai", Attempts = { new Attempt { Deployment = "upstream-dep" } } },
        Created = 1_780_000_000,
    };

    /// <summary>What the adapter keeps of a response: the library's parse without the fields it replaces.</summary>
    private static CompletionResponse Kept(CompletionResponse response)
    {
        var kept = response.Clone();
        kept.Id = "";
        kept.Provider = "";
        kept.Routing = null;
        kept.Created = 0;
        return kept;
    }

    [Fact]
    public void EveryField_KeepsWhatTheLibraryParses_SkipsWhatTheAdapterReplaces()
    {
        var bytes = Full().ToByteArray();

        Assert.True(UpstreamResponseReader.TryRead(bytes, new UpstreamResponseReader.ModelNames(16), out var read));

        Assert.Equal(Kept(CompletionResponse.Parser.ParseFrom(bytes)), read);
        Assert.Equal("upstream-model", read.Model);
        Assert.Equal(FinishReason.ToolCalls, read.FinishReason);
        Assert.Equal(300, read.Usage.OutputTokens);
        Assert.Equal("Hello there, héllo ✓", read.Message.Content);
    }

    [Fact]
    public void EmptyAndMinimalResponses_ReadAsTheLibraryReadsThem()
    {
        foreach (var response in new[] { new CompletionResponse(), new CompletionResponse { Message = new Message() }, new CompletionResponse { FinishReason = FinishReason.Length } })
        {
            var bytes = response.ToByteArray();
            Assert.True(UpstreamResponseReader.TryRead(bytes, new UpstreamResponseReader.ModelNames(16), out var read));
            Assert.Equal(Kept(CompletionResponse.Parser.ParseFrom(bytes)), read);
        }
    }

    [Fact]
    public void SameModelTwice_SameStringInstance()
    {
        var bytes = Full("cache-probe-model").ToByteArray();

        var models = new UpstreamResponseReader.ModelNames(4);
        Assert.True(UpstreamResponseReader.TryRead(bytes, models, out var first));
        Assert.True(UpstreamResponseReader.TryRead(bytes, models, out var second));

        Assert.Equal("cache-probe-model", first.Model);
        Assert.Same(first.Model, second.Model);
    }

    [Fact]
    public void ManyModels_EachReadCorrectly_PastTheCache()
    {
        var models = new UpstreamResponseReader.ModelNames(4);
        var firstReads = new string[10];
        for (var round = 0; round < 2; round++)
        {
            for (var i = 0; i < 10; i++)
            {
                var bytes = Full("model-" + i).ToByteArray();
                Assert.True(UpstreamResponseReader.TryRead(bytes, models, out var read));
                Assert.Equal("model-" + i, read.Model);
                if (round == 0)
                {
                    firstReads[i] = read.Model;
                }
                else
                {
                    // The first four names seen are cached; the rest are read afresh each time.
                    Assert.Equal(i < 4, ReferenceEquals(firstReads[i], read.Model));
                }
            }
        }
    }

    [Fact]
    public void RepeatedMessageField_MergedLikeTheLibrary()
    {
        // Protobuf merges a message field that appears twice.
        var first = new CompletionResponse { Message = new Message { Content = "first" } }.ToByteArray();
        var second = new CompletionResponse { Message = new Message { Role = Role.Assistant } }.ToByteArray();
        var bytes = first.Concat(second).ToArray();

        Assert.True(UpstreamResponseReader.TryRead(bytes, new UpstreamResponseReader.ModelNames(16), out var read));

        Assert.Equal(Kept(CompletionResponse.Parser.ParseFrom(bytes)), read);
        Assert.Equal("first", read.Message.Content);
        Assert.Equal(Role.Assistant, read.Message.Role);
    }

    [Fact]
    public void UnknownField_GoesToTheLibrary()
    {
        // Field 15, varint 7: a newer upstream's field.
        var bytes = Full().ToByteArray().Concat(new byte[] { (15 << 3) | 0, 7 }).ToArray();

        Assert.False(UpstreamResponseReader.TryRead(bytes, new UpstreamResponseReader.ModelNames(16), out _));

        var read = UpstreamResponseReader.Read(new ReadOnlySequence<byte>(bytes));
        Assert.Equal(CompletionResponse.Parser.ParseFrom(bytes), read);
    }

    [Fact]
    public void WrongWireTypeForAKnownField_GoesToTheLibrary()
    {
        // Field 2 (model) as a varint.
        Assert.False(UpstreamResponseReader.TryRead(new byte[] { (2 << 3) | 0, 1 }, new UpstreamResponseReader.ModelNames(16), out _));
    }

    [Fact]
    public void SeveralSegments_ReadByTheLibrary()
    {
        var bytes = Full().ToByteArray();
        var payload = Segments(bytes, 7);

        Assert.False(payload.IsSingleSegment);
        Assert.Equal(CompletionResponse.Parser.ParseFrom(bytes), UpstreamResponseReader.Read(payload));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(40)]
    public void Truncated_TheLibrarysError(int cut)
    {
        var bytes = Full().ToByteArray()[..^cut];

        Assert.False(UpstreamResponseReader.TryRead(bytes, new UpstreamResponseReader.ModelNames(16), out _));
        Assert.Throws<InvalidProtocolBufferException>(() => UpstreamResponseReader.Read(new ReadOnlySequence<byte>(bytes)));
    }

    [Fact]
    public void Garbage_TheLibrarysError()
    {
        var bytes = new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };

        Assert.Throws<InvalidProtocolBufferException>(() => UpstreamResponseReader.Read(new ReadOnlySequence<byte>(bytes)));
    }

    private static ReadOnlySequence<byte> Segments(byte[] bytes, int size)
    {
        Segment? first = null, last = null;
        for (var at = 0; at < bytes.Length; at += size)
        {
            var memory = bytes.AsMemory(at, Math.Min(size, bytes.Length - at));
            if (first is null)
            {
                first = last = new Segment(memory, 0);
            }
            else
            {
                last = last!.Append(memory);
            }
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
