using Gateway.Grpc.Governance.Limits;
using Gateway.Grpc.Governance.Tests.Infrastructure;
using Gateway.Grpc.TestSupport;
using Grpc.Core;
using StackExchange.Redis;

namespace Gateway.Grpc.Governance.Tests.Limits;

/// <summary>ACL users: a server whose default user is off, a gateway user, and an admin for the test.</summary>
public sealed class RedisAuthTests : IAsyncLifetime
{
    private const string AdminPassword = "admin-secret";
    private readonly RedisLimits _limits = new();
    private readonly TempDirectory _secrets = new();
    private RedisServer _redis = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(
            "--user", "default", "off",
            "--user", "gateway", "on", ">gateway-secret", "~gw:*", "+@all",
            "--user", "admin", "on", ">" + AdminPassword, "~*", "&*", "+@all");
    }

    public async Task DisposeAsync()
    {
        await _limits.DisposeAsync();
        await _redis.DisposeAsync();
        _secrets.Dispose();
    }

    [Fact]
    public async Task AclUserWithPasswordFromFile_Authenticates_AndCountsInRedis()
    {
        var passwordFile = WriteSecret("gateway-secret");
        var failover = _limits.Failover(RedisLimits.Settings(_redis.Endpoint, "gateway", () => File.ReadAllText(passwordFile)), failOpen: false);
        var key = RedisLimits.UniqueKey("acl");

        Assert.True((await failover.TryAcquireAsync(RedisLimits.Requests(key, 5), CancellationToken.None)).Allowed);

        var admin = await _limits.AdminAsync(_redis.Endpoint, "admin", AdminPassword);
        Assert.True(await admin.KeyExistsAsync("gw:rl:" + key));
        var clients = ((string?)await admin.ExecuteAsync("CLIENT", "LIST"))!.Split('\n');
        // One socket per replica, named: no pub/sub connection beside it.
        var gateway = Assert.Single(clients, static c => c.Contains("name=llm-gateway ", StringComparison.Ordinal));
        Assert.Contains("user=gateway ", gateway, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongPassword_FailClosed_RefusesWithUnavailable()
    {
        var failover = _limits.Failover(RedisLimits.Settings(_redis.Endpoint, "gateway", () => "not-the-secret", commandTimeoutMs: 500), failOpen: false);

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await failover.TryAcquireAsync(RedisLimits.Requests(RedisLimits.UniqueKey("wrong"), 5), CancellationToken.None));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
    }

    [Fact]
    public async Task PasswordRotated_ConnectionDropped_ReconnectsWithTheNewSecret()
    {
        var passwordFile = WriteSecret("gateway-secret");
        var failover = _limits.Failover(RedisLimits.Settings(_redis.Endpoint, "gateway", () => File.ReadAllText(passwordFile)), failOpen: false);
        var key = RedisLimits.UniqueKey("rotate");
        Assert.True((await failover.TryAcquireAsync(RedisLimits.Requests(key, 100), CancellationToken.None)).Allowed);

        // Rotate: the server accepts only the new password, the mounted secret holds it, live connections go.
        var admin = await _limits.AdminAsync(_redis.Endpoint, "admin", AdminPassword);
        await admin.ExecuteAsync("ACL", "SETUSER", "gateway", "resetpass", ">rotated-secret");
        File.WriteAllText(passwordFile, "rotated-secret");
        await admin.ExecuteAsync("CLIENT", "KILL", "USER", "gateway");

        await Eventually.HoldsAsync(
            async () =>
            {
                try
                {
                    return (await failover.TryAcquireAsync(RedisLimits.Requests(key, 100), CancellationToken.None)).Allowed;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
                {
                    return false;
                }
            },
            "the replica reconnects with the rotated password");
        Assert.False(failover.IsDegraded);
    }

    private string WriteSecret(string value)
    {
        var path = Path.Combine(_secrets.Path, Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, value);
        return path;
    }
}
