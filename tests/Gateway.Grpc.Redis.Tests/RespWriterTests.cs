using System.Buffers;
using System.Text;
using Gateway.Grpc.Redis.Internal;

namespace Gateway.Grpc.Redis.Tests;

public sealed class RespWriterTests
{
    [Fact]
    public void Command_IsAnArrayOfBulkStrings()
        => Assert.Equal("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n", Write("SET", "k", "value"));

    [Fact]
    public void NonAsciiString_UsesUtf8ByteLength()
        => Assert.Equal("*2\r\n$3\r\nGET\r\n$4\r\ncl\u00e9\r\n", Write("GET", "cl\u00e9"));

    [Fact]
    public void Numbers_UseInvariantCultureAndRedisInfinity()
        => Assert.Equal(
            "*6\r\n$4\r\nZADD\r\n$2\r\n42\r\n$2\r\n-7\r\n$3\r\n1.5\r\n$4\r\n+inf\r\n$4\r\n-inf\r\n",
            Write("ZADD", 42, -7L, 1.5, double.PositiveInfinity, float.NegativeInfinity));

    [Fact]
    public void Bytes_AreWrittenVerbatim()
        => Assert.Equal("*2\r\n$3\r\nSET\r\n$4\r\na\r\n\0\r\n", Write("SET", new byte[] { (byte)'a', (byte)'\r', (byte)'\n', 0 }));

    [Fact]
    public void EmptyArgument_IsAZeroLengthBulkString()
        => Assert.Equal("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", Write("ECHO", string.Empty));

    [Theory]
    [InlineData("SUBSCRIBE", "SubscribeAsync")]
    [InlineData("multi", "Lua script")]
    [InlineData("SELECT", "RedisOptions.Database")]
    [InlineData("BLPOP", "blocking")]
    [InlineData("HELLO", "RESP2 only")]
    public void CommandsThatBreakMultiplexing_AreRejectedWithTheAlternative(string command, string hint)
    {
        var ex = Assert.Throws<ArgumentException>(() => RespWriter.Validate(command, []));
        Assert.Contains(hint, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ClientReply_IsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => RespWriter.Validate("CLIENT", ["reply", "off"]));
        Assert.Contains("CLIENT REPLY", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CommandWithSpace_TellsToSplitIt()
    {
        var ex = Assert.Throws<ArgumentException>(() => RespWriter.Validate("CLIENT GETNAME", []));
        Assert.Contains("pass the subcommand and arguments separately", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnsupportedArgumentType_NamesIndexAndType()
    {
        var ex = Assert.Throws<ArgumentException>(() => RespWriter.Validate("SET", ["k", DateTime.UnixEpoch]));
        Assert.Contains("Argument 1 of SET has type System.DateTime", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NullArgument_IsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => RespWriter.Validate("SET", ["k", null!]));
        Assert.Contains("Argument 1 of SET is null", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NaN_IsRejected()
        => Assert.Throws<ArgumentException>(() => RespWriter.Validate("INCRBYFLOAT", ["k", double.NaN]));

    private static string Write(string command, params object[] args)
    {
        RespWriter.Validate(command, args);
        var buffer = new ArrayBufferWriter<byte>();
        RespWriter.WriteCommand(buffer, command, args);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
