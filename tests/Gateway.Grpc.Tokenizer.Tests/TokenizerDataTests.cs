using System.Text.Json;
using Gateway.Grpc.Tokenizer.Internal;

namespace Gateway.Grpc.Tokenizer.Tests;

public sealed class TokenizerDataTests
{
    [Fact]
    public void TryLoad_Embedded_MatchesPinnedChecksum()
    {
        Assert.True(TokenizerDataSource.TryLoad("o200k_base", null, out var data, out var source, out var error), error);
        Assert.StartsWith("embedded resource", source, StringComparison.Ordinal);
        Assert.True(data.Length > 1_000_000);
    }

    [Fact]
    public void TryLoad_DirectoryWithoutFile_FailsNamingVariable()
    {
        var dir = Directory.CreateTempSubdirectory("tokenizer-empty-");
        try
        {
            Assert.False(TokenizerDataSource.TryLoad("cl100k_base", dir.FullName, out _, out _, out var error));
            Assert.Contains("GATEWAY_TOKENIZER_DATA", error, StringComparison.Ordinal);
            Assert.Contains("cl100k_base.json", error, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void TryLoad_DirectoryWithAlteredFile_FailsOnChecksum()
    {
        var dir = Directory.CreateTempSubdirectory("tokenizer-altered-");
        try
        {
            var original = Path.Combine(ReferenceCorpus.ReferenceDirectory, "node_modules", "tiktoken", "encoders", "cl100k_base.json");
            var bytes = File.ReadAllBytes(original);
            bytes[^3] ^= 0x01;
            File.WriteAllBytes(Path.Combine(dir.FullName, "cl100k_base.json"), bytes);
            Assert.False(TokenizerDataSource.TryLoad("cl100k_base", dir.FullName, out _, out _, out var error));
            Assert.Contains("SHA-256", error, StringComparison.Ordinal);

            File.Copy(original, Path.Combine(dir.FullName, "cl100k_base.json"), overwrite: true);
            Assert.True(TokenizerDataSource.TryLoad("cl100k_base", dir.FullName, out _, out var source, out error), error);
            Assert.StartsWith(dir.FullName, source, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Checksums_PinBothEncodings()
    {
        Assert.Equal(["cl100k_base.json", "o200k_base.json"], TokenizerDataSource.Checksums.Keys.Order(StringComparer.Ordinal));
        Assert.All(TokenizerDataSource.Checksums.Values, static v => Assert.Matches("^[0-9a-f]{64}$", v));
    }

    [Fact]
    public void CreateForEncoding_Unknown_ThrowsListingSupported()
    {
        var ex = Assert.Throws<ArgumentException>(() => TiktokenTokenizer.CreateForEncoding("p50k_base"));
        Assert.Contains("o200k_base", ex.Message, StringComparison.Ordinal);
        Assert.False(TiktokenTokenizer.TryCreateForEncoding("nope", out var tokenizer, out var error));
        Assert.Null(tokenizer);
        Assert.Contains("nope", error, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateForEncoding_SameName_ReturnsSharedInstance()
    {
        Assert.Same(TiktokenTokenizer.CreateForEncoding("o200k_base"), TiktokenTokenizer.CreateForModel("gpt-4o"));
    }

    [Fact]
    public void Create_FromStream_LoadsNpmFormat()
    {
        using var stream = File.OpenRead(Path.Combine(ReferenceCorpus.ReferenceDirectory, "node_modules", "tiktoken", "encoders", "cl100k_base.json"));
        var tokenizer = TiktokenTokenizer.Create(stream, "custom");
        Assert.Equal("custom", tokenizer.EncodingName);
        Assert.Equal(100256, tokenizer.OrdinaryTokenCount);
        Assert.Equal(TiktokenTokenizer.CreateForEncoding("cl100k_base").EncodeToIds("hello world"), tokenizer.EncodeToIds("hello world"));
    }

    [Fact]
    public void Create_FromBrokenJson_ThrowsInvalidData()
    {
        using var stream = new MemoryStream("{\"pat_str\": \"a\", \"bpe_ranks\": 5}"u8.ToArray());
        Assert.Throws<InvalidDataException>(() => TiktokenTokenizer.Create(stream, "broken"));
    }

    public static TheoryData<string, string?> TiktokenModelMap()
    {
        // tiktoken's own model table from the pinned npm package.
        var path = Path.Combine(ReferenceCorpus.ReferenceDirectory, "node_modules", "tiktoken", "model_to_encoding.json");
        var data = new TheoryData<string, string?>();
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        foreach (var model in doc.RootElement.EnumerateObject())
        {
            var encoding = model.Value.GetString();
            data.Add(model.Name, encoding is "o200k_base" or "cl100k_base" ? encoding : null);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(TiktokenModelMap))]
    public void GetEncodingNameForModel_EveryTiktokenModel_MatchesTiktoken(string model, string? expected)
    {
        Assert.Equal(expected, TiktokenTokenizer.GetEncodingNameForModel(model));
    }

    [Theory]
    [InlineData("openai/gpt-4o-mini", "o200k_base")]
    [InlineData("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base")]
    [InlineData("ft:gpt-3.5-turbo-0125:acme::x", "cl100k_base")]
    [InlineData("gpt-35-turbo-16k", "cl100k_base")]
    [InlineData("gpt-4.1-mini-2099-01-01", "o200k_base")]
    [InlineData("gpt-5.1", "o200k_base")]
    [InlineData("o3-pro", "o200k_base")]
    [InlineData("gpt-oss-120b", "o200k_base")]
    [InlineData("claude-sonnet-4", null)]
    [InlineData("o10", null)]
    [InlineData("gpt-4x", null)]
    [InlineData("", null)]
    public void GetEncodingNameForModel_PrefixRules(string model, string? expected)
    {
        Assert.Equal(expected, TiktokenTokenizer.GetEncodingNameForModel(model));
    }
}
