using System.Text;
using Gateway.Grpc.Tokenizer.Internal;

namespace Gateway.Grpc.Tokenizer.Tests;

public sealed class BytePairMergeTests
{
    private static RankTable Ranks(string encoding)
    {
        var source = Path.Combine(ReferenceCorpus.ReferenceDirectory, "node_modules", "tiktoken", "encoders", encoding + ".json");
        Assert.True(File.Exists(source), $"{source} is missing; run scripts/fetch-tokenizer-data.sh");
        return EncoderFile.Parse(File.ReadAllBytes(source), source).Ranks;
    }

    private static int[] Scan(RankTable ranks, byte[] piece)
    {
        var ids = new List<int>();
        var sink = new ListSink(ids);
        BytePairMerge.EncodeByScan(ranks, piece, ref sink);
        return [.. ids];
    }

    private static int[] Heap(RankTable ranks, byte[] piece)
    {
        var ids = new List<int>();
        var sink = new ListSink(ids);
        BytePairMerge.EncodeByHeap(ranks, piece, ref sink);
        return [.. ids];
    }

    [Theory]
    [InlineData("o200k_base")]
    [InlineData("cl100k_base")]
    public void EncodeByHeap_RandomPieces_SameIdsAsTiktokenScan(string encoding)
    {
        var ranks = Ranks(encoding);
        var random = new Random(1234);
        var alphabets = new[] { "ab", "aab ", "abcdefghij", "=-_*", "0123456789", "the quick brown fox", "ééàç", "漢字かな", "\u00F0\u009F" };
        for (var i = 0; i < 400; i++)
        {
            var alphabet = alphabets[i % alphabets.Length];
            var length = 2 + random.Next(BytePairMerge.HeapThreshold);
            var text = new StringBuilder(length);
            for (var j = 0; j < length; j++)
            {
                text.Append(alphabet[random.Next(alphabet.Length)]);
            }

            var bytes = Encoding.UTF8.GetBytes(text.ToString());
            if (bytes.Length > BytePairMerge.HeapThreshold)
            {
                bytes = bytes[..BytePairMerge.HeapThreshold];
            }

            Assert.Equal(Scan(ranks, bytes), Heap(ranks, bytes));
        }
    }

    [Theory]
    [InlineData("o200k_base")]
    [InlineData("cl100k_base")]
    public void EncodeByScan_TiesOnRank_MergesLeftmostFirst(string encoding)
    {
        // "ccc" where "cc" is a token and "ccc" is not: both pairs have the same rank, and tiktoken
        // merges the left one, giving "cc" + "c" (never "c" + "cc").
        var ranks = Ranks(encoding);
        var checkedAny = false;
        for (var c = (byte)'!'; c <= (byte)'~'; c++)
        {
            byte[] triple = [c, c, c];
            if (!ranks.TryGetRank(triple.AsSpan(0, 2), out var pair) || ranks.TryGetRank(triple, out _))
            {
                continue;
            }

            Assert.True(ranks.TryGetRank(triple.AsSpan(0, 1), out var single));
            Assert.Equal([pair, single], Scan(ranks, triple));
            Assert.Equal([pair, single], Heap(ranks, triple));
            checkedAny = true;
        }

        Assert.True(checkedAny, "no character with a double but not a triple token");
    }

    [Fact]
    public void Encode_HugeRepetitivePiece_FinishesQuickly()
    {
        // A 300 000-letter run is one pre-token; the quadratic scan would take minutes on it.
        var tokenizer = TiktokenTokenizer.CreateForEncoding("o200k_base");
        var text = new string('x', 300_000);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var count = tokenizer.CountTokens(text);
        watch.Stop();
        Assert.True(count > 1000);
        Assert.Equal(text, tokenizer.Decode(tokenizer.EncodeToIds(text)));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
    }

    [Fact]
    public void RankTable_LookupOfEveryToken_ReturnsItsRank()
    {
        var ranks = Ranks("o200k_base");
        var found = 0;
        for (var rank = 0; rank < ranks.RankLimit; rank++)
        {
            if (ranks.Contains(rank))
            {
                Assert.True(ranks.TryGetRank(ranks.GetBytes(rank), out var back));
                Assert.Equal(rank, back);
                found++;
            }
        }

        Assert.Equal(ranks.Count, found);
        Assert.False(ranks.TryGetRank("definitely not a single token"u8, out _));
    }

    [Fact]
    public void ParseRanks_RankMarker_SetsNextRank()
    {
        var ranks = EncoderFile.ParseRanks("YQ== Yg== ! 10 Yw== ZA=="u8, "test");
        Assert.True(ranks.TryGetRank("a"u8, out var a));
        Assert.True(ranks.TryGetRank("c"u8, out var c));
        Assert.True(ranks.TryGetRank("d"u8, out var d));
        Assert.Equal((0, 10, 11), (a, c, d));
        Assert.False(ranks.Contains(5));
    }

    [Fact]
    public void ParseRanks_DuplicateBytes_Rejected()
    {
        var ex = Assert.Throws<InvalidDataException>(() => EncoderFile.ParseRanks("YQ== YQ=="u8, "test"));
        Assert.Contains("same bytes", ex.Message, StringComparison.Ordinal);
    }
}
