using System.Runtime.CompilerServices;
using Gateway.Grpc.Tokenizer.Chat;

namespace Gateway.Grpc.Tokenizer.Tests;

/// <summary>Runs alone (after the parallel tests): it measures the managed heap and drops the shared tokenizers.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TokenizerReleaseCollection
{
    public const string Name = "tokenizer release";
}

/// <summary>
/// An idle gateway lets go of the tokenizer vocabularies (<see cref="TiktokenTokenizer.ReleaseShared"/>):
/// the shared tokenizers hold tables of their own (not the library's process-wide cache), releasing
/// them frees that memory at the next full GC, and counting afterwards loads them again with the same
/// results.
/// </summary>
[Collection(TokenizerReleaseCollection.Name)]
public sealed class TokenizerReleaseTests
{
    private const string Text = "Releasing the vocabulary must not change a single count: héllo, 世界, 123456.";

    [Fact]
    public void ReleaseShared_FreesTheVocabulary_AndTheNextCountLoadsItAgain()
    {
        var counter = ChatTokenCounter.ForModel("gpt-4o");
        var (count, ids, released) = CountThroughSharedTokenizer(counter);
        var loaded = GC.GetTotalMemory(forceFullCollection: true);

        Assert.True(TiktokenTokenizer.ReleaseShared() >= 1);
        var after = GC.GetTotalMemory(forceFullCollection: true);
        Assert.False(released.IsAlive, "nothing but the shared cache held the released tokenizer");
        // o200k_base alone is about 40 MB of dictionaries, byte arrays and strings.
        Assert.True(loaded - after > 20 << 20, $"the heap went from {loaded >> 20} MB to {after >> 20} MB");

        // The shared counter loads it again on its next count: same count, same ids, a new instance.
        Assert.False(counter.IsEstimate);
        Assert.Equal(count, counter.CountText(Text));
        var reloaded = TiktokenTokenizer.CreateForEncoding("o200k_base");
        Assert.Equal(ids, reloaded.EncodeToIds(Text));
        Assert.True(reloaded.Releasable);
        Assert.Same(reloaded, counter.Tokenizer);
    }

    [Theory]
    [InlineData("o200k_base")]
    [InlineData("cl100k_base")]
    public void SharedTokenizers_AreLoadedFromTheirDataPackage_WithTheLibrarysSpecialTokens(string encoding)
    {
        var shared = TiktokenTokenizer.CreateForEncoding(encoding);
        Assert.True(shared.Releasable, $"{encoding} came from its Data package's resource, not the library's process-wide cache");

        // The library's own path (cached for the process) knows the same special tokens and ids.
        var library = Microsoft.ML.Tokenizers.TiktokenTokenizer.CreateForEncoding(encoding);
        Assert.Equal(library.SpecialTokens!.OrderBy(p => p.Key, StringComparer.Ordinal), shared.SpecialTokens.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(library.EncodeToIds(Text), shared.EncodeToIds(Text));
    }

    /// <summary>
    /// Loads and uses the shared tokenizer in a frame of its own: unoptimized (tier-0) code keeps
    /// its temporaries alive to the end of the method, which would hold the tokenizer in the test's.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (int Count, int[] Ids, WeakReference Tokenizer) CountThroughSharedTokenizer(ChatTokenCounter counter)
    {
        var tokenizer = TiktokenTokenizer.CreateForEncoding("o200k_base");
        return (counter.CountText(Text), [.. tokenizer.EncodeToIds(Text)], new WeakReference(tokenizer));
    }
}
