namespace Gateway.Grpc.Protocol.Benchmarks;

/// <summary>
/// Run from each <c>[GlobalSetup]</c>: every benchmarked path runs once and its result is compared
/// with what the payload builders put in, so a broken path fails the run instead of timing nothing.
/// </summary>
internal static class Verify
{
    public static void Equal<T>(string benchmark, T actual, T expected)
    {
        if (!EqualityComparer<T>.Default.Equals(actual, expected))
        {
            throw new InvalidOperationException($"{benchmark}: got {actual}, expected {expected}.");
        }
    }

    public static void Sequence<T>(string benchmark, IReadOnlyList<T> actual, IReadOnlyList<T> expected)
    {
        Equal(benchmark + " count", actual.Count, expected.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            if (!EqualityComparer<T>.Default.Equals(actual[i], expected[i]))
            {
                throw new InvalidOperationException($"{benchmark}: item {i} is {actual[i]}, expected {expected[i]}.");
            }
        }
    }
}
