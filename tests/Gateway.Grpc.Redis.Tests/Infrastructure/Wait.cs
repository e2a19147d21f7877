namespace Gateway.Grpc.Redis.Tests.Infrastructure;

internal static class Wait
{
    /// <summary>Polls an observable condition (a sync point on state, not a guessed delay); fails after 10 s.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(1);
        }
    }
}
