using System.Buffers;
using System.Text;
using Gateway.Grpc.Redis.Internal;

namespace Gateway.Grpc.Redis.Tests;

public sealed class RespParserTests
{
    private const string Nested = "*4\r\n:1\r\n*3\r\n$3\r\nfoo\r\n$-1\r\n*2\r\n+OK\r\n-ERR inner\r\n*-1\r\n$6\r\na\r\nb\r\n\r\n";

    [Fact]
    public void SimpleString_ParsesText()
    {
        var result = ParseOne("+PONG\r\n");
        Assert.Equal(RedisResultType.SimpleString, result.Type);
        Assert.Equal("PONG", result.AsString());
    }

    [Fact]
    public void Ok_ReturnsSharedInstance()
        => Assert.Same(RedisResult.Ok, ParseOne("+OK\r\n"));

    [Fact]
    public void Error_KeepsMessageWithPrefix()
    {
        var result = ParseOne("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
        Assert.Equal(RedisResultType.Error, result.Type);
        Assert.Equal("WRONGTYPE Operation against a key holding the wrong kind of value", result.AsString());
    }

    [Theory]
    [InlineData(":0\r\n", 0L)]
    [InlineData(":-1\r\n", -1L)]
    [InlineData(":1000\r\n", 1000L)]
    [InlineData(":9223372036854775807\r\n", long.MaxValue)]
    [InlineData(":-9223372036854775808\r\n", long.MinValue)]
    public void Integer_ParsesFullRange(string wire, long expected)
    {
        var result = ParseOne(wire);
        Assert.Equal(RedisResultType.Integer, result.Type);
        Assert.Equal(expected, result.AsInt64());
    }

    [Fact]
    public void BulkString_IsBinarySafe()
    {
        var result = ParseOne("$8\r\na\r\n\0b\r\nc\r\n");
        Assert.Equal(RedisResultType.BulkString, result.Type);
        Assert.Equal("a\r\n\0b\r\nc"u8.ToArray(), result.AsBytes());
    }

    [Fact]
    public void NullAndEmptyBulkString_AreDistinct()
    {
        var nil = ParseOne("$-1\r\n");
        var empty = ParseOne("$0\r\n\r\n");
        Assert.True(nil.IsNull);
        Assert.Null(nil.AsString());
        Assert.False(empty.IsNull);
        Assert.Equal(string.Empty, empty.AsString());
    }

    [Fact]
    public void NullAndEmptyArray_AreDistinct()
    {
        Assert.Same(RedisResult.NullArray, ParseOne("*-1\r\n"));
        var empty = ParseOne("*0\r\n");
        Assert.False(empty.IsNull);
        Assert.Empty(empty.AsArray()!);
    }

    [Fact]
    public void NestedArray_KeepsStructureNullsAndErrors()
    {
        var result = ParseOne(Nested);
        AssertNested(result);
    }

    [Fact]
    public void OneByteAtATime_CompletesOnlyOnTheLastByte()
    {
        var wire = Encoding.UTF8.GetBytes(Nested);
        for (var length = 0; length < wire.Length; length++)
        {
            var partial = new ReadOnlySequence<byte>(wire, 0, length);
            Assert.False(RespParser.TryRead(ref partial, out _), $"parsed a reply from only {length} of {wire.Length} bytes");
            Assert.Equal(length, partial.Length);
        }

        var whole = new ReadOnlySequence<byte>(wire);
        Assert.True(RespParser.TryRead(ref whole, out var result));
        Assert.True(whole.IsEmpty);
        AssertNested(result!);
    }

    [Fact]
    public void OneByteSegments_ParseAcrossEverySegmentBoundary()
    {
        var sequence = Segments.OneBytePerSegment(Encoding.UTF8.GetBytes(Nested + ":-42\r\n+OK\r\n"));
        Assert.True(RespParser.TryRead(ref sequence, out var first));
        AssertNested(first!);
        Assert.True(RespParser.TryRead(ref sequence, out var second));
        Assert.Equal(-42, second!.AsInt64());
        Assert.True(RespParser.TryRead(ref sequence, out var third));
        Assert.Same(RedisResult.Ok, third);
        Assert.True(sequence.IsEmpty);
    }

    [Fact]
    public void PipelinedReplies_ParseInOrderAndLeaveTheIncompleteTail()
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(":1\r\n:2\r\n$5\r\nhel"));
        Assert.True(RespParser.TryRead(ref buffer, out var one));
        Assert.True(RespParser.TryRead(ref buffer, out var two));
        Assert.False(RespParser.TryRead(ref buffer, out _));
        Assert.Equal(1, one!.AsInt64());
        Assert.Equal(2, two!.AsInt64());
        Assert.Equal("$5\r\nhel", Encoding.UTF8.GetString(buffer));
    }

    [Theory]
    [InlineData("HTTP/1.1 400 Bad Request\r\n", "expected a type marker")]
    [InlineData("!3\r\nfoo\r\n", "0x21 ('!')")]
    [InlineData(":12a\r\n", "integer reply '12a' is not a 64-bit integer")]
    [InlineData(":\r\n", "is not a 64-bit integer")]
    [InlineData(":+5\r\n", "is not a 64-bit integer")]
    [InlineData(":99999999999999999999\r\n", "is not a 64-bit integer")]
    [InlineData("$-2\r\n", "bulk string length -2 is out of range")]
    [InlineData("$3\r\nfoobar\r\n", "not followed by CRLF")]
    [InlineData("*-5\r\n", "array length -5 is out of range")]
    [InlineData("+OK\n", "bare LF")]
    [InlineData("$abc\r\n", "bulk string length 'abc'")]
    public void MalformedInput_ThrowsProtocolExceptionNamingTheProblem(string wire, string expected)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(wire));
        var ex = Assert.Throws<RedisProtocolException>(() => RespParser.TryRead(ref buffer, out _));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.StartsWith("Invalid RESP2 from the server", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DeepNesting_IsRejectedWithoutStackOverflow()
    {
        var wire = string.Concat(Enumerable.Repeat("*1\r\n", 10_000)) + ":1\r\n";
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(wire));
        var ex = Assert.Throws<RedisProtocolException>(() => RespParser.TryRead(ref buffer, out _));
        Assert.Contains($"deeper than {RespParser.MaxDepth}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NestingAtTheLimit_Parses()
    {
        var wire = string.Concat(Enumerable.Repeat("*1\r\n", RespParser.MaxDepth)) + ":7\r\n";
        var result = ParseOne(wire);
        for (var i = 0; i < RespParser.MaxDepth; i++)
        {
            result = result[0];
        }

        Assert.Equal(7, result.AsInt64());
    }

    [Fact]
    public void EndlessLine_IsRejectedOnceItPassesTheLimit()
    {
        var below = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes("+" + new string('a', RespParser.MaxLineLength - 10)));
        Assert.False(RespParser.TryRead(ref below, out _));
        var above = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes("+" + new string('a', RespParser.MaxLineLength + 10)));
        Assert.Throws<RedisProtocolException>(() => RespParser.TryRead(ref above, out _));
    }

    [Fact]
    public void HugeDeclaredBulkLength_IsRejected()
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes("$999999999999\r\n"));
        var ex = Assert.Throws<RedisProtocolException>(() => RespParser.TryRead(ref buffer, out _));
        Assert.Contains("out of range", ex.Message, StringComparison.Ordinal);
    }

    private static RedisResult ParseOne(string wire)
    {
        var buffer = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(wire));
        Assert.True(RespParser.TryRead(ref buffer, out var result));
        Assert.True(buffer.IsEmpty, "bytes left after the reply");
        return result!;
    }

    private static void AssertNested(RedisResult result)
    {
        Assert.Equal(RedisResultType.Array, result.Type);
        Assert.Equal(4, result.Length);
        Assert.Equal(1, result[0].AsInt64());
        Assert.Equal("foo", result[1][0].AsString());
        Assert.True(result[1][1].IsNull);
        Assert.Same(RedisResult.Ok, result[1][2][0]);
        Assert.Equal(RedisResultType.Error, result[1][2][1].Type);
        Assert.Equal("ERR inner", result[1][2][1].AsString());
        Assert.True(result[2].IsNull);
        Assert.Equal(RedisResultType.Array, result[2].Type);
        Assert.Equal("a\r\nb\r\n", result[3].AsString());
    }
}

internal static class Segments
{
    public static ReadOnlySequence<byte> OneBytePerSegment(byte[] bytes)
    {
        var first = new Segment(bytes.AsMemory(0, 1), 0);
        var last = first;
        for (var i = 1; i < bytes.Length; i++)
        {
            last = last.Append(bytes.AsMemory(i, 1));
        }

        return new ReadOnlySequence<byte>(first, 0, last, 1);
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
