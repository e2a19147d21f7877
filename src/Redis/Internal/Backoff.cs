namespace Gateway.Grpc.Redis.Internal;

/// <summary>Exponential reconnection backoff with "equal jitter": a delay in [d/2, d], d doubling from min to max.</summary>
internal static class Backoff
{
    public static TimeSpan Delay(int attempt, TimeSpan min, TimeSpan max, double random)
    {
        var exponent = Math.Min(attempt, 30);
        var ceiling = Math.Min(max.Ticks, min.Ticks * Math.Pow(2, exponent));
        var ticks = (ceiling / 2) + (ceiling / 2 * random);
        return TimeSpan.FromTicks((long)Math.Max(ticks, min.Ticks / 2.0));
    }
}
