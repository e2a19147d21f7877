namespace Gateway.Grpc.Rest.Tests.Infrastructure;

/// <summary>
/// Polls a condition that another party (the server) makes true, up to a bounded timeout. Used
/// for observing server-side effects (a cancelled generation) that have no event to await.
/// </summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, TimeSpan timeout, string failure)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"{failure} (waited {timeout.TotalSeconds:0.#} s)");
            }

            await Task.Delay(20);
        }
    }
}
