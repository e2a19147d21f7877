namespace Gateway.Grpc.Server.Tests.Infrastructure;

/// <summary>Waits for an observable state to be reached (never for time to pass).</summary>
internal static class Poll
{
    /// <summary>Returns once <paramref name="condition"/> holds; fails the test after <paramref name="timeout"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "not reached in time: " + what);
            await Task.Delay(10);
        }
    }
}
