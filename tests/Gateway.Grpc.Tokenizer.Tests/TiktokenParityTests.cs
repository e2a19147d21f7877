using System.Text;

namespace Gateway.Grpc.Tokenizer.Tests;

/// <summary>
/// Token ids of the gateway's tokenizer (Microsoft.ML.Tokenizers underneath) against the official
/// tiktoken npm package on the whole corpus, both encodings: identical, entry for entry.
/// </summary>
public sealed class TiktokenParityTests
{
    public static TheoryData<string> Encodings => ["o200k_base", "cl100k_base"];

    private static TiktokenTokenizer Tokenizer(string encoding)
    {
        Assert.True(
            TiktokenTokenizer.TryCreateForEncoding(encoding, out var tokenizer, out var error),
            $"The tokenizer cannot be loaded, so the parity tests cannot run: {error}");
        return tokenizer;
    }

    [Fact]
    public void Reference_IsPinnedTiktokenVersion_WithVariedCorpus()
    {
        var corpus = ReferenceCorpus.Shared;
        Assert.Equal("1.0.22", corpus.TiktokenVersion);
        Assert.True(corpus.Entries.Count >= 100, $"only {corpus.Entries.Count} corpus entries");
        Assert.Contains(corpus.Entries, static e => e.Name.StartsWith("corpus/", StringComparison.Ordinal));
        Assert.Contains(corpus.Entries, static e => e.Name.StartsWith("lone/", StringComparison.Ordinal));
        Assert.Contains(corpus.Entries, static e => e.Text.Any(char.IsSurrogate));
        Assert.Contains(corpus.Entries, static e => e.Text.Length > 2000);
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void EncodeToIds_EveryCorpusEntry_MatchesTiktokenEncodeOrdinary(string encoding)
    {
        var tokenizer = Tokenizer(encoding);
        var failures = new List<string>();
        foreach (var entry in ReferenceCorpus.Shared.Entries)
        {
            var expected = entry.Ids[encoding].Ordinary;
            var actual = tokenizer.EncodeToIds(entry.Text);
            if (!expected.AsSpan().SequenceEqual(actual.ToArray()))
            {
                failures.Add(Describe(tokenizer, entry, expected, actual));
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {ReferenceCorpus.Shared.Entries.Count} entries differ:\n{string.Join("\n", failures.Take(10))}");
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void EncodeToIds_RecognizeSpecialTokens_MatchesTiktokenEncodeAll(string encoding)
    {
        var tokenizer = Tokenizer(encoding);
        var failures = new List<string>();
        var entriesWithSpecials = 0;
        foreach (var entry in ReferenceCorpus.Shared.Entries)
        {
            var (ordinary, expected) = entry.Ids[encoding];
            entriesWithSpecials += ordinary.AsSpan().SequenceEqual(expected) ? 0 : 1;
            var actual = tokenizer.EncodeToIds(entry.Text, SpecialTokenHandling.Recognize);
            if (!expected.AsSpan().SequenceEqual(actual.ToArray()))
            {
                failures.Add(Describe(tokenizer, entry, expected, actual));
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} entries differ:\n{string.Join("\n", failures.Take(10))}");
        Assert.True(entriesWithSpecials >= 3, "the corpus should contain special-token text that tiktoken recognizes");
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void CountTokens_EveryCorpusEntry_EqualsEncodeToIdsCount(string encoding)
    {
        var tokenizer = Tokenizer(encoding);
        foreach (var entry in ReferenceCorpus.Shared.Entries)
        {
            Assert.Equal(entry.Ids[encoding].Ordinary.Length, tokenizer.CountTokens(entry.Text));
            Assert.Equal(entry.Ids[encoding].Special.Length, tokenizer.CountTokens(entry.Text, SpecialTokenHandling.Recognize));
        }
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void Decode_EveryCorpusEntry_RoundTripsText(string encoding)
    {
        var tokenizer = Tokenizer(encoding);
        foreach (var entry in ReferenceCorpus.Shared.Entries)
        {
            // tiktoken sees UTF-8, where a lone surrogate is already U+FFFD; everything else round-trips exactly.
            var expected = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(entry.Text));
            Assert.Equal(expected, tokenizer.Decode(tokenizer.EncodeToIds(entry.Text)));
            Assert.Equal(expected, tokenizer.Decode(tokenizer.EncodeToIds(entry.Text, SpecialTokenHandling.Recognize)));
        }
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void EncodeToIds_Span_AppendsSameIdsAsString(string encoding)
    {
        var tokenizer = Tokenizer(encoding);
        var entry = ReferenceCorpus.Shared.Entries.First(static e => e.Name == "corpus/english-prose");
        var destination = new List<int> { -1 };
        tokenizer.EncodeToIds(entry.Text.AsSpan(), destination);
        Assert.Equal(-1, destination[0]);
        Assert.Equal(entry.Ids[encoding].Ordinary, destination.Skip(1));
    }

    [Fact]
    public void EncodeToIds_SpecialTokenText_IsTextByDefault()
    {
        var tokenizer = Tokenizer("o200k_base");
        var asText = tokenizer.EncodeToIds("<|endoftext|>");
        Assert.True(asText.Count > 1);
        Assert.DoesNotContain(199999, asText);
        Assert.Equal([199999], tokenizer.EncodeToIds("<|endoftext|>", SpecialTokenHandling.Recognize));
        Assert.Equal(199999, tokenizer.SpecialTokens["<|endoftext|>"]);
    }

    [Fact]
    public void Decode_UnknownId_ThrowsNamingId()
    {
        var tokenizer = Tokenizer("cl100k_base");
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([1, 2, 987654]));
        Assert.Contains("987654", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([-1]));
    }

    [Fact]
    public void Decode_IdsSplittingCharacter_ReplacesInvalidBytes()
    {
        var tokenizer = Tokenizer("cl100k_base");
        var ids = tokenizer.EncodeToIds("🙂");
        Assert.True(ids.Count > 1, "the emoji should take several byte-level tokens in cl100k_base");
        Assert.Contains('\uFFFD', tokenizer.Decode(ids.Take(1)));
        Assert.Equal("🙂", tokenizer.Decode(ids));
    }

    [Fact]
    public void Decode_SpecialTokenId_DecodesToItsText()
    {
        var tokenizer = Tokenizer("cl100k_base");
        Assert.Equal("a<|endoftext|>b", tokenizer.Decode(tokenizer.EncodeToIds("a<|endoftext|>b", SpecialTokenHandling.Recognize)));
    }

    [Fact]
    public void EncodeToIds_UndefinedHandling_Throws()
    {
        var tokenizer = Tokenizer("o200k_base");
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.EncodeToIds("x", (SpecialTokenHandling)7));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.CountTokens("x", (SpecialTokenHandling)7));
    }

    [Fact]
    public void EncodeToIds_ConcurrentCallers_GetSameIds()
    {
        var tokenizer = Tokenizer("o200k_base");
        var entries = ReferenceCorpus.Shared.Entries;
        var mismatches = 0;
        Parallel.For(0, 4 * entries.Count, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var entry = entries[i % entries.Count];
            if (!entry.Ids["o200k_base"].Ordinary.AsSpan().SequenceEqual(tokenizer.EncodeToIds(entry.Text).ToArray()))
            {
                Interlocked.Increment(ref mismatches);
            }
        });
        Assert.Equal(0, mismatches);
    }

    private static string Describe(TiktokenTokenizer tokenizer, ReferenceEntry entry, int[] expected, IReadOnlyList<int> actual)
    {
        var at = 0;
        while (at < expected.Length && at < actual.Count && expected[at] == actual[at])
        {
            at++;
        }

        string Window(IEnumerable<int> ids) => string.Join(",", ids.Skip(Math.Max(0, at - 2)).Take(6).Select(id =>
            $"{id}:{Convert.ToHexString(Encoding.UTF8.GetBytes(tokenizer.Decode([id])))}"));

        return $"  {tokenizer.EncodingName} {entry.Name}: first difference at token {at} (expected {expected.Length} tokens, got {actual.Count}); expected [{Window(expected)}], got [{Window(actual)}]";
    }
}
