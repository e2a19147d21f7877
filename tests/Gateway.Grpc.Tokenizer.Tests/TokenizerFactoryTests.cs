using System.Text.Json;

namespace Gateway.Grpc.Tokenizer.Tests;

/// <summary>Which encoding a model gets, and how the shared tokenizers are created.</summary>
public sealed class TokenizerFactoryTests
{
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

    [Theory]
    [InlineData("o200k_base", 199998)]
    [InlineData("cl100k_base", 100256)]
    public void OrdinaryTokenCount_MatchesTiktokenVocabulary(string encoding, int expected)
    {
        // tiktoken's encoders/<encoding>.json hold exactly this many ranks (0..n-1); Decode relies on it to reject unknown ids.
        Assert.Equal(expected, TiktokenTokenizer.CreateForEncoding(encoding).OrdinaryTokenCount);
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
