using Gateway.Grpc.TestSupport;

namespace Gateway.Grpc.Governance.Tests.Infrastructure;

/// <summary>One server shared by the tests of a class that do not stop it.</summary>
public sealed class SharedRedisFixture : IAsyncLifetime
{
    private RedisServer? _server;

    internal RedisServer Server => _server ?? throw new InvalidOperationException("The fixture has not started.");

    public async Task InitializeAsync() => _server = await RedisServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
