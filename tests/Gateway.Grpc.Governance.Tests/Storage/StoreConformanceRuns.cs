using Gateway.Grpc.Governance.Storage;
using Gateway.Grpc.Governance.Tests.Infrastructure;

namespace Gateway.Grpc.Governance.Tests.Storage;

public sealed class InMemoryStoreConformanceTests : GovernanceStoreConformanceTests
{
    protected override Task<IGovernanceStore> CreateUnmigratedStoreAsync() => Task.FromResult<IGovernanceStore>(new InMemoryGovernanceStore());
}

public sealed class SqliteStoreConformanceTests : GovernanceStoreConformanceTests, IDisposable
{
    private readonly TempDirectory _directory = new();

    protected override Task<IGovernanceStore> CreateUnmigratedStoreAsync()
        => Task.FromResult<IGovernanceStore>(new SqliteGovernanceStore(Path.Combine(_directory.Path, Guid.NewGuid().ToString("N"), "gateway.db")));

    public void Dispose() => _directory.Dispose();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresStoreConformanceTests(PostgresServer server) : GovernanceStoreConformanceTests
{
    protected override async Task<IGovernanceStore> CreateUnmigratedStoreAsync() => new PostgresGovernanceStore(await server.CreateSchemaAsync());
}
