using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Internal;

namespace Gateway.Grpc.Tests.Protocol;

public sealed class MetadataTests
{
    [Theory]
    [InlineData("x-request-id")]
    [InlineData("a.b_c-d")]
    [InlineData("0123456789")]
    public void Add_ValidKey_Accepted(string key)
    {
        var metadata = new Metadata { { key, "v" } };

        Assert.Equal("v", metadata.GetValue(key));
    }

    [Fact]
    public void Add_UppercaseKey_StoredLowercase()
    {
        var metadata = new Metadata { { "X-Trace-ID", "1" } };

        Assert.Equal("x-trace-id", metadata[0].Key);
        Assert.Equal("1", metadata.GetValue("x-trace-id"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("colon:")]
    [InlineData(":path")]
    [InlineData("caf\u00e9")]
    [InlineData("slash/")]
    public void Add_InvalidKey_Throws(string key)
        => Assert.ThrowsAny<ArgumentException>(() => new Metadata.Entry(key, "v"));

    [Theory]
    [InlineData("line\nbreak")]
    [InlineData("tab\t")]
    [InlineData("del\u007f")]
    [InlineData("caf\u00e9")]
    public void Add_NonPrintableTextValue_Throws(string value)
        => Assert.Throws<ArgumentException>(() => new Metadata.Entry("k", value));

    [Fact]
    public void Add_PrintableAsciiAndEmpty_Accepted()
    {
        var metadata = new Metadata { { "a", " !~" }, { "b", "" } };

        Assert.Equal(" !~", metadata.GetValue("a"));
        Assert.Equal("", metadata.GetValue("b"));
    }

    [Fact]
    public void Add_BinaryKeyWithText_Throws()
        => Assert.Throws<ArgumentException>(() => new Metadata.Entry("trace-bin", "text"));

    [Fact]
    public void Add_TextKeyWithBytes_Throws()
        => Assert.Throws<ArgumentException>(() => new Metadata.Entry("trace", [1, 2]));

    [Fact]
    public void Add_BinaryKey_HoldsBytes()
    {
        var entry = new Metadata.Entry("Trace-Bin", [0, 255]);

        Assert.True(entry.IsBinary);
        Assert.Equal("trace-bin", entry.Key);
        Assert.Equal(new byte[] { 0, 255 }, entry.ValueBytes);
        Assert.Throws<InvalidOperationException>(() => entry.Value);
    }

    [Fact]
    public void Get_DuplicateKeys_LastWinsAndGetAllKeepsOrder()
    {
        var metadata = new Metadata { { "k", "1" }, { "other", "x" }, { "k", "2" } };

        Assert.Equal("2", metadata.GetValue("k"));
        Assert.Equal(["1", "2"], metadata.GetAll("k").Select(e => e.Value));
        Assert.Null(metadata.Get("missing"));
    }

    [Theory]
    [InlineData(new byte[] { }, "")]
    [InlineData(new byte[] { 1 }, "AQ")]
    [InlineData(new byte[] { 1, 2 }, "AQI")]
    [InlineData(new byte[] { 1, 2, 3 }, "AQID")]
    [InlineData(new byte[] { 0xab, 0xab, 0xab }, "q6ur")]
    public void EncodeBinary_Unpadded(byte[] value, string expected)
        => Assert.Equal(expected, MetadataCodec.EncodeBinary(value));

    [Theory]
    [InlineData("AQ", new byte[] { 1 })]
    [InlineData("AQ==", new byte[] { 1 })]
    [InlineData("AQI", new byte[] { 1, 2 })]
    [InlineData("AQI=", new byte[] { 1, 2 })]
    [InlineData("AQID", new byte[] { 1, 2, 3 })]
    [InlineData(" q6ur ", new byte[] { 0xab, 0xab, 0xab })]
    public void DecodeBinary_PaddedOrUnpadded_Decoded(string value, byte[] expected)
        => Assert.Equal(expected, MetadataCodec.DecodeBinary(value));

    [Theory]
    [InlineData("!!!")]
    [InlineData("A")]
    public void DecodeBinary_Invalid_EmptyRatherThanThrow(string value)
        => Assert.Empty(MetadataCodec.DecodeBinary(value));

    [Fact]
    public void AddHeader_BinaryValuesJoinedByComma_SplitBeforeDecoding()
    {
        var metadata = new Metadata();

        MetadataCodec.AddHeader(metadata, "X-Data-Bin", ["AQ,AQI=", "AQID"]);

        Assert.Equal(
            [[1], [1, 2], [1, 2, 3]],
            metadata.GetAll("x-data-bin").Select(e => e.ValueBytes).ToArray());
    }

    [Theory]
    [InlineData(":authority")]
    [InlineData("content-type")]
    [InlineData("te")]
    [InlineData("grpc-timeout")]
    [InlineData("grpc-encoding")]
    [InlineData("grpc-accept-encoding")]
    [InlineData("grpc-status")]
    [InlineData("grpc-message")]
    [InlineData("host")]
    [InlineData("accept-encoding")]
    [InlineData("content-encoding")]
    public void AddHeader_TransportHeader_Hidden(string name)
    {
        var metadata = new Metadata();

        MetadataCodec.AddHeader(metadata, name, ["x"]);

        Assert.Empty(metadata);
    }

    [Fact]
    public void AddHeader_InvalidTextValue_SkippedNotThrown()
    {
        var metadata = new Metadata();

        MetadataCodec.AddHeader(metadata, "k", ["caf\u00e9", "ok"]);

        Assert.Equal(["ok"], metadata.GetAll("k").Select(e => e.Value));
    }

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/grpc+json", true)]
    [InlineData("application/grpc;charset=utf-8", true)]
    [InlineData("APPLICATION/GRPC", true)]
    [InlineData("application/grpc-web", false)]
    [InlineData("application/grpc-web-text", false)]
    [InlineData("application/grpcx", false)]
    [InlineData("application/json", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void IsGrpcContentType_PerSpec(string? contentType, bool expected)
        => Assert.Equal(expected, GrpcProtocolConstants.IsGrpcContentType(contentType));
}
