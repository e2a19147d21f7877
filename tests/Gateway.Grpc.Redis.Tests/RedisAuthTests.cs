using Gateway.Grpc.Redis.Tests.Infrastructure;

namespace Gateway.Grpc.Redis.Tests;

/// <summary>AUTH against a redis-server started with --requirepass; passwords come only from secret references.</summary>
public sealed class RedisAuthTests : IAsyncLifetime
{
    private const string Password = "correct horse battery";
    private readonly string _variable = "REDIS_TEST_PASSWORD_" + Guid.NewGuid().ToString("N");
    private RedisServer? _server;

    private RedisServer Server => _server!;

    public async Task InitializeAsync()
    {
        _server = await RedisServer.StartAsync("--requirepass", Password);
        Environment.SetEnvironmentVariable(_variable, Password);
    }

    public async Task DisposeAsync()
    {
        Environment.SetEnvironmentVariable(_variable, null);
        await Server.DisposeAsync();
    }

    [Fact]
    public async Task EnvPassword_Authenticates()
    {
        await using var redis = await ConnectAsync(o => o.Password = "env:" + _variable);

        Assert.Equal("default", (await redis.ExecuteAsync("ACL", "WHOAMI")).AsString());
    }

    [Fact]
    public async Task WrongPassword_FailsConnectWithoutLeakingTheSecret()
    {
        var wrong = "REDIS_TEST_WRONG_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(wrong, "not-the-password");
        try
        {
            var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => ConnectAsync(o => o.Password = "env:" + wrong));
            Assert.Contains("rejected AUTH", ex.Message, StringComparison.Ordinal);
            Assert.Contains("WRONGPASS", ex.Message, StringComparison.Ordinal);
            Assert.Contains("env:" + wrong, ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("not-the-password", ex.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(wrong, null);
        }
    }

    [Fact]
    public async Task NoPassword_FailsConnectSayingWhichSettingToSet()
    {
        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => ConnectAsync(_ => { }));

        Assert.Contains("requires authentication", ex.Message, StringComparison.Ordinal);
        Assert.Contains("RedisOptions.Password", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AclUserWithFilePassword_Authenticates()
    {
        await using (var admin = await ConnectAsync(o => o.Password = "env:" + _variable))
        {
            await admin.ExecuteAsync("ACL", "SETUSER", "gateway", "on", ">gw-pass", "~*", "+@all");
        }

        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, "gw-pass\n");
        try
        {
            await using var redis = await ConnectAsync(o =>
            {
                o.User = "gateway";
                o.Password = "file:" + file;
            });
            Assert.Equal("gateway", (await redis.ExecuteAsync("ACL", "WHOAMI")).AsString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task RotatedSecret_IsReadAgainOnReconnect()
    {
        var variable = "REDIS_TEST_ROTATING_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, Password);
        try
        {
            await using var redis = await ConnectAsync(o => o.Password = "env:" + variable);
            var states = new StateRecorder(redis);
            var id = (long)await redis.ExecuteAsync("CLIENT", "ID");

            await redis.ExecuteAsync("CONFIG", "SET", "requirepass", "rotated-password"); // open connections stay authenticated
            Environment.SetEnvironmentVariable(variable, "rotated-password");
            await using (var killer = await ConnectAsync(o => o.Password = "env:" + variable))
            {
                await killer.ExecuteAsync("CLIENT", "KILL", "ID", id);
            }

            Assert.False((await states.NextAsync()).IsConnected);
            Assert.True((await states.NextAsync()).IsConnected);
            Assert.Equal("default", (await redis.ExecuteAsync("ACL", "WHOAMI")).AsString());
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    private Task<RedisConnection> ConnectAsync(Action<RedisOptions> configure)
    {
        var options = new RedisOptions { Endpoint = Server.Endpoint, ReconnectMaxDelay = TimeSpan.FromMilliseconds(200) };
        configure(options);
        return RedisConnection.ConnectAsync(options);
    }
}
