using Gateway.Grpc.Tests.TestInfrastructure;

namespace Gateway.Grpc.Tests.Interop;

/// <summary>The reference grpc-js TestService server (tests/interop/testservice-server.js), shared by a test class.</summary>
public sealed class GrpcJsServerFixture : IAsyncLifetime
{
    private RunningProcess? _process;

    public int Port { get; private set; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    /// <summary>What the server printed, for failure messages.</summary>
    public string Output => _process?.Output ?? "";

    public async Task InitializeAsync()
        => (_process, Port) = await Node.StartServerAsync("testservice-server.js", "--port", "0");

    public Task DisposeAsync()
    {
        _process?.Dispose();
        return Task.CompletedTask;
    }
}
