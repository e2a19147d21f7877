namespace Gateway.Grpc.Governance.Tests.Infrastructure;

internal static class Eventually
{
    /// <summary>
    /// Polls an observable condition (state the code under test exposes, not a guessed delay) until it
    /// holds; fails after <paramref name="timeout"/> (10 s by default) naming what it waited for.
    /// </summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }

            await Task.Delay(20);
        }
    }
}
