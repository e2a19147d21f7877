using Gateway.Grpc.Server.Hosting;

namespace Gateway.Grpc.Caching.Tests.Unit;

/// <summary>A bad <c>cache:</c> section stops start-up with a message naming each key and the fix.</summary>
public sealed class CacheConfigTests
{
    private static GatewayConfigurationException Build(Dictionary<string, string?> cache)
    {
        var config = new Dictionary<string, string?>(cache)
        {
            ["grpcAddress"] = "127.0.0.1:0",
            ["httpAddress"] = "127.0.0.1:0",
            ["store:kind"] = "memory",
            ["models:0:name"] = "m",
            ["models:0:deployments:0:name"] = "m-1",
            ["models:0:deployments:0:provider"] = "simulated",
        };
        return Assert.Throws<GatewayConfigurationException>(() => GatewayApp.Build([], config));
    }

    [Fact]
    public void BadCacheSection_EveryKeyNamed()
    {
        var ex = Build(new()
        {
            ["cache:enabled"] = "true",
            ["cache:backend"] = "memcached",
            ["cache:partition"] = "everyone",
            ["cache:ttlSeconds"] = "0",
            ["cache:semantic:threshold"] = "1.5",
            ["cache:semantic:maxEntries"] = "0",
            ["cache:models:nope:ttlSeconds"] = "10",
            ["cache:teams:t1:semanticThreshold"] = "-1",
            ["cache:redis:password"] = "hunter2",
        });

        foreach (var expected in new[]
        {
            "cache:backend: 'memcached' is not memory or redis.",
            "cache:partition: 'everyone' is not team, key or global.",
            "cache:ttlSeconds: must be between 1 and cache:maxTtlSeconds",
            "cache:semantic:threshold: must be a cosine similarity above 0 and at most 1",
            "cache:semantic:maxEntries: must be between 1 and 1000000",
            "cache:models:nope: 'nope' is not a configured model.",
            "cache:teams:t1:semanticThreshold:",
            "cache:redis:password: must be a secret reference",
        })
        {
            Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RedisEndpoint_NotAnEndpoint_NamesTheKey()
    {
        var ex = Build(new() { ["cache:enabled"] = "true", ["cache:backend"] = "redis", ["cache:redis:endpoint"] = " " });
        Assert.Contains("cache:redis: endpoint ' ' is not a Redis endpoint", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownCacheKey_IsAnError()
    {
        var ex = Build(new() { ["cache:enabeld"] = "true" });
        Assert.Contains("enabeld", ex.Message, StringComparison.OrdinalIgnoreCase);
    }
}
