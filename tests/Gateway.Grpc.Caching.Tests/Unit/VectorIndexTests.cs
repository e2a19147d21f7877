using Gateway.Grpc.Caching.Semantic;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Grpc.Caching.Tests.Unit;

public sealed class VectorIndexTests
{
    private static float[] Unit(params float[] values)
    {
        MiniLmEmbedder.Normalize(values);
        return values;
    }

    [Fact]
    public void Nearest_ReturnsTheMostSimilarOfTheSameBucketOnly()
    {
        var time = new FakeTimeProvider();
        var index = new VectorIndex(10, time);
        var later = time.GetUtcNow().AddHours(1);
        index.Add(new VectorEntry("a", "x", Unit(1, 0, 0), later));
        index.Add(new VectorEntry("a", "y", Unit(0.6f, 0.8f, 0), later));
        index.Add(new VectorEntry("b", "z", Unit(0, 1, 0), later));

        var nearest = index.Nearest("a", Unit(0, 1, 0));
        Assert.NotNull(nearest);
        Assert.Equal("y", nearest.Value.Entry.AnswerKey);
        Assert.Equal(0.8f, nearest.Value.Similarity, 3);
        Assert.Null(index.Nearest("c", Unit(0, 1, 0)));
    }

    [Fact]
    public void Add_PastTheBound_DropsTheOldest()
    {
        var time = new FakeTimeProvider();
        var index = new VectorIndex(3, time);
        var later = time.GetUtcNow().AddHours(1);
        for (var i = 0; i < 5; i++)
        {
            index.Add(new VectorEntry("b" + i, "k" + i, Unit(1, i, 0), later));
        }

        Assert.Equal(3, index.Count);
        Assert.Null(index.Nearest("b0", Unit(1, 0, 0)));
        Assert.Null(index.Nearest("b1", Unit(1, 1, 0)));
        Assert.NotNull(index.Nearest("b4", Unit(1, 4, 0)));
    }

    [Fact]
    public void Nearest_ExpiredEntries_AreNotReturned()
    {
        var time = new FakeTimeProvider();
        var index = new VectorIndex(3, time);
        index.Add(new VectorEntry("a", "x", Unit(1, 0, 0), time.GetUtcNow().AddSeconds(5)));
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Null(index.Nearest("a", Unit(1, 0, 0)));
        Assert.Equal(0, index.Count);
    }

    [Fact]
    public void Fill_100kEntriesOf384Dimensions_StaysAtTheBound_AndStillFindsTheNewest()
    {
        var time = new FakeTimeProvider();
        var index = new VectorIndex(2_000, time);
        var later = time.GetUtcNow().AddHours(1);
        var random = new Random(3);
        float[]? newest = null;
        for (var i = 0; i < 100_000; i++)
        {
            var vector = new float[384];
            for (var d = 0; d < vector.Length; d++)
            {
                vector[d] = (float)(random.NextDouble() - 0.5);
            }

            MiniLmEmbedder.Normalize(vector);
            index.Add(new VectorEntry("bucket-" + (i % 7), "k" + i, vector, later));
            newest = vector;
        }

        Assert.Equal(2_000, index.Count);
        var nearest = index.Nearest("bucket-" + (99_999 % 7), newest);
        Assert.Equal("k99999", nearest!.Value.Entry.AnswerKey);
        Assert.Equal(1f, nearest.Value.Similarity, 4);
    }
}
