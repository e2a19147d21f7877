using Gateway.Grpc.Protocol.Internal;

namespace Gateway.Grpc.Tests.Protocol;

public sealed class PercentEncodingTests
{
    /// <summary>The special_status_message interop string.</summary>
    private const string Special = "\t\ntest with whitespace\r\nand Unicode BMP \u263A and non-BMP \U0001F608\t\n";

    [Fact]
    public void Encode_SpecialStatusMessage_ExactWireForm()
    {
        var encoded = PercentEncoding.Encode(Special);

        Assert.Equal("%09%0Atest with whitespace%0D%0Aand Unicode BMP %E2%98%BA and non-BMP %F0%9F%98%88%09%0A", encoded);
    }

    [Theory]
    [InlineData("")]
    [InlineData("plain ascii ~!@#$^&*()")]
    [InlineData("100%")]
    [InlineData("%25")]
    [InlineData("\u0000\u001f\u007f")]
    [InlineData("caf\u00e9 \u65e5\u672c")]
    [InlineData(Special)]
    public void EncodeThenDecode_RoundTrips(string value)
    {
        var encoded = PercentEncoding.Encode(value);

        Assert.All(encoded, c => Assert.InRange(c, (char)0x20, (char)0x7E));
        Assert.Equal(value, PercentEncoding.Decode(encoded));
    }

    [Fact]
    public void Encode_PercentSign_Escaped()
        => Assert.Equal("50%25 off", PercentEncoding.Encode("50% off"));

    [Fact]
    public void Encode_PrintableAscii_Unchanged()
    {
        const string value = "Deadline Exceeded: it's (really) over";

        Assert.Same(value, PercentEncoding.Encode(value));
    }

    [Theory]
    [InlineData("%e2%98%ba", "\u263A")]
    [InlineData("a%20b", "a b")]
    public void Decode_LowercaseOrUppercaseHex_Decoded(string wire, string expected)
        => Assert.Equal(expected, PercentEncoding.Decode(wire));

    [Theory]
    [InlineData("%")]
    [InlineData("abc%")]
    [InlineData("%4")]
    [InlineData("%zz")]
    [InlineData("%%41")]
    [InlineData("100% sure")]
    public void Decode_InvalidEscape_PassedThrough(string wire)
    {
        var decoded = PercentEncoding.Decode(wire);

        Assert.Equal(wire.Replace("%41", "A", StringComparison.Ordinal), decoded);
    }

    [Fact]
    public void Decode_InvalidUtf8_DoesNotThrow()
    {
        var decoded = PercentEncoding.Decode("bad %FF%FE byte");

        Assert.StartsWith("bad ", decoded, StringComparison.Ordinal);
        Assert.EndsWith(" byte", decoded, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_NonAsciiOnTheWire_ReturnedAsIs()
        => Assert.Equal("caf\u00e9 %41", PercentEncoding.Decode("caf\u00e9 %41"));
}
