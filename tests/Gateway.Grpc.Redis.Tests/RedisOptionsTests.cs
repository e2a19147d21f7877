using Gateway.Grpc.Redis.Internal;

namespace Gateway.Grpc.Redis.Tests;

public sealed class RedisOptionsTests
{
    [Fact]
    public void Defaults_AreValid()
        => new RedisOptions().Validate();

    [Fact]
    public void LiteralPassword_IsRefusedWithTheFix()
    {
        var ex = Assert.Throws<ArgumentException>(() => new RedisOptions { Password = "hunter2" }.Validate());
        Assert.Contains("RedisOptions.Password must be a secret reference, 'env:NAME' or 'file:/path'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryProblem_IsListedAtOnce()
    {
        var options = new RedisOptions
        {
            Endpoint = "localhost:99999",
            Database = -1,
            CommandTimeout = TimeSpan.Zero,
            ClientName = "has space",
            User = "app",
        };
        var ex = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("RedisOptions.Endpoint", ex.Message, StringComparison.Ordinal);
        Assert.Contains("port '99999'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("RedisOptions.Database is -1", ex.Message, StringComparison.Ordinal);
        Assert.Contains("RedisOptions.CommandTimeout", ex.Message, StringComparison.Ordinal);
        Assert.Contains("RedisOptions.ClientName", ex.Message, StringComparison.Ordinal);
        Assert.Contains("RedisOptions.User is set but RedisOptions.Password is not", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:6380", "127.0.0.1", 6380)]
    [InlineData("redis.internal", "redis.internal", 6379)]
    [InlineData("[::1]:7000", "::1", 7000)]
    [InlineData("[::1]", "::1", 6379)]
    public void Endpoint_Parses(string endpoint, string host, int port)
    {
        Assert.True(EndpointParser.TryParse(endpoint, out var parsedHost, out var parsedPort, out _));
        Assert.Equal(host, parsedHost);
        Assert.Equal(port, parsedPort);
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("::1", "bare IPv6")]
    [InlineData("[::1", "without ']'")]
    [InlineData("host:abc", "port 'abc'")]
    [InlineData(":6379", "no valid host")]
    public void BadEndpoint_SaysWhatIsWrong(string endpoint, string expected)
    {
        Assert.False(EndpointParser.TryParse(endpoint, out _, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnvSecret_ResolvesAndMissingVariableIsNamed()
    {
        var name = "REDIS_TEST_SECRET_" + Guid.NewGuid().ToString("N");
        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => SecretResolver.ResolveAsync("env:" + name, "RedisOptions.Password", default).AsTask());
        Assert.Contains(name, ex.Message, StringComparison.Ordinal);
        Environment.SetEnvironmentVariable(name, "s3cret");
        try
        {
            Assert.Equal("s3cret", await SecretResolver.ResolveAsync("env:" + name, "RedisOptions.Password", default));
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public async Task FileSecret_TrimsTrailingNewline()
    {
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(path, "pa ss\n");
            Assert.Equal("pa ss", await SecretResolver.ResolveAsync("file:" + path, "RedisOptions.Password", default));
        }
        finally
        {
            File.Delete(path);
        }

        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => SecretResolver.ResolveAsync("file:" + path, "RedisOptions.Password", default).AsTask());
        Assert.Contains("cannot be read", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 0.0, 25)]
    [InlineData(0, 1.0, 50)]
    [InlineData(1, 1.0, 100)]
    [InlineData(3, 1.0, 400)]
    [InlineData(20, 1.0, 2000)]
    [InlineData(20, 0.0, 1000)]
    public void Backoff_DoublesWithJitterUpToTheMaximum(int attempt, double random, int expectedMs)
        => Assert.Equal(
            TimeSpan.FromMilliseconds(expectedMs),
            Backoff.Delay(attempt, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(2), random));

    [Fact]
    public void LuaScript_Sha1MatchesRedisAndIsCached()
    {
        // SHA1("return 1"), as SCRIPT LOAD returns it.
        var script = LuaScript.Prepare("return 1");
        Assert.Equal("e0e1f9fabfc9d4800c877a703b823ac0578ff8db", script.Sha1);
        Assert.Same(script, LuaScript.Prepare("return 1"));
    }
}
