using Gateway.Grpc.Redis.Tests.Infrastructure;

namespace Gateway.Grpc.Redis.Tests;

/// <summary>Commands, replies, pipelining, scripts, Pub/Sub and cancellation against a real redis-server.</summary>
public sealed class RedisCommandTests(SharedRedisFixture fixture) : IClassFixture<SharedRedisFixture>
{
    private readonly string _prefix = "t:" + Guid.NewGuid().ToString("N")[..8] + ":";

    [Fact]
    public async Task EveryReplyType_RoundTrips()
    {
        await using var redis = await ConnectAsync();

        var pong = await redis.ExecuteAsync("PING");
        Assert.Equal(RedisResultType.SimpleString, pong.Type);
        Assert.Equal("PONG", pong.AsString());

        Assert.Same(RedisResult.Ok, await redis.ExecuteAsync("SET", Key("s"), "v"));
        var bulk = await redis.ExecuteAsync("GET", Key("s"));
        Assert.Equal(RedisResultType.BulkString, bulk.Type);
        Assert.Equal("v", (string?)bulk);

        var missing = await redis.ExecuteAsync("GET", Key("missing"));
        Assert.True(missing.IsNull);
        Assert.Equal(RedisResultType.BulkString, missing.Type);

        var integer = await redis.ExecuteAsync("INCRBY", Key("n"), 41L);
        Assert.Equal(RedisResultType.Integer, integer.Type);
        Assert.Equal(41, (long)integer);

        await redis.ExecuteAsync("RPUSH", Key("l"), "a", "b", "c");
        var array = await redis.ExecuteAsync("LRANGE", Key("l"), 0, -1);
        Assert.Equal(new string?[] { "a", "b", "c" }, Array.ConvertAll(array.AsArray()!, static r => r.AsString()));
        var empty = await redis.ExecuteAsync("LRANGE", Key("nolist"), 0, -1);
        Assert.False(empty.IsNull);
        Assert.Equal(0, empty.Length);
    }

    [Fact]
    public async Task NestedArrayWithNullAndError_FromLua_KeepsItsShape()
    {
        await using var redis = await ConnectAsync();

        var result = await redis.ExecuteAsync("EVAL", "return {1, {2, 'x', false}, redis.error_reply('BOOM inner'), 'end'}", 0);

        Assert.Equal(4, result.Length);
        Assert.Equal(1, result[0].AsInt64());
        Assert.Equal(2, result[1][0].AsInt64());
        Assert.Equal("x", result[1][1].AsString());
        Assert.True(result[1][2].IsNull); // Lua false -> null bulk
        Assert.Equal(RedisResultType.Error, result[2].Type);
        Assert.Equal("BOOM inner", result[2].AsString());
        Assert.Equal("end", result[3].AsString());
    }

    [Fact]
    public async Task ErrorReply_ThrowsServerExceptionAndConnectionStaysUsable()
    {
        await using var redis = await ConnectAsync();
        await redis.StringSetAsync(Key("text"), "abc");

        var notInteger = await Assert.ThrowsAsync<RedisServerException>(() => redis.ExecuteAsync("INCR", Key("text")));
        Assert.Equal("ERR", notInteger.ErrorCode);
        Assert.Contains("not an integer", notInteger.Message, StringComparison.Ordinal);

        var wrongType = await Assert.ThrowsAsync<RedisServerException>(() => redis.ExecuteAsync("LPUSH", Key("text"), "x"));
        Assert.Equal("WRONGTYPE", wrongType.ErrorCode);

        var unknown = await Assert.ThrowsAsync<RedisServerException>(() => redis.ExecuteAsync("NOSUCHCOMMAND"));
        Assert.Contains("unknown command", unknown.Message, StringComparison.Ordinal);

        Assert.Equal("abc", await redis.StringGetAsync(Key("text")));
        Assert.True(redis.IsConnected);
    }

    [Fact]
    public async Task BinaryAndLargeValues_RoundTripExactly()
    {
        await using var redis = await ConnectAsync();
        var binary = new byte[] { 0, 13, 10, 255, 36, 42, 13, 10 };
        var large = new byte[3 * 1024 * 1024 + 17];
        new Random(7).NextBytes(large);

        await redis.ExecuteAsync("SET", Key("bin"), binary);
        await redis.ExecuteAsync("SET", Key("big"), large);

        Assert.Equal(binary, (await redis.ExecuteAsync("GET", Key("bin"))).AsBytes());
        Assert.Equal(large, (await redis.ExecuteAsync("GET", Key("big"))).AsBytes());
    }

    [Fact]
    public async Task TypedHelpers_MapToTheirCommands()
    {
        await using var redis = await ConnectAsync();

        Assert.True(await redis.StringSetAsync(Key("a"), "1", TimeSpan.FromSeconds(30)));
        var pttl = (long)await redis.ExecuteAsync("PTTL", Key("a"));
        Assert.InRange(pttl, 1, 30_000);

        Assert.False(await redis.StringSetAsync(Key("a"), "2", when: When.NotExists));
        Assert.False(await redis.StringSetAsync(Key("absent"), "2", when: When.Exists));
        Assert.True(await redis.StringSetAsync(Key("a"), "3", when: When.Exists));
        Assert.Equal("3", await redis.StringGetAsync(Key("a")));
        Assert.Null(await redis.StringGetAsync(Key("absent")));

        Assert.Equal(5, await redis.IncrByAsync(Key("c"), 5));
        Assert.Equal(4, await redis.IncrByAsync(Key("c"), -1));

        Assert.True(await redis.ExpireAsync(Key("c"), TimeSpan.FromMilliseconds(1500)));
        Assert.InRange((long)await redis.ExecuteAsync("PTTL", Key("c")), 1, 1500);
        Assert.False(await redis.ExpireAsync(Key("absent"), TimeSpan.FromSeconds(1)));

        Assert.True(await redis.DelAsync(Key("a")));
        Assert.False(await redis.DelAsync(Key("a")));
        await redis.StringSetAsync(Key("x"), "1");
        Assert.Equal(1, await redis.DelAsync([Key("x"), Key("y")]));

        Assert.Equal(0, await redis.PublishAsync(Key("nobody"), "hello"));
        Assert.True(await redis.PingAsync() > TimeSpan.Zero);
    }

    [Fact]
    public async Task TenThousandConcurrentIncrs_CountRightAndRepliesMatchTheirCommands()
    {
        await using var redis = await ConnectAsync();
        const int Tasks = 50;
        const int PerTask = 200;

        // Each task interleaves INCR on a shared counter with INCR on its own key, all without awaiting.
        // Its own key's replies must be exactly 1..PerTask in issue order; any mismatched reply (another key's
        // value, or the shared counter's) would break that, and the shared replies must be 1..10000 once each.
        var workers = Enumerable.Range(0, Tasks).Select(t => Task.Run(async () =>
        {
            var own = new Task<long>[PerTask];
            var shared = new Task<long>[PerTask];
            for (var i = 0; i < PerTask; i++)
            {
                shared[i] = redis.IncrByAsync(Key("shared"));
                own[i] = redis.IncrByAsync(Key("own:" + t));
            }

            return (Own: await Task.WhenAll(own), Shared: await Task.WhenAll(shared));
        })).ToArray();
        var results = await Task.WhenAll(workers);

        foreach (var (own, _) in results)
        {
            Assert.Equal(Enumerable.Range(1, PerTask).Select(i => (long)i), own);
        }

        var allShared = results.SelectMany(r => r.Shared).Order().ToArray();
        Assert.Equal(Enumerable.Range(1, Tasks * PerTask).Select(i => (long)i), allShared);
        Assert.Equal("10000", await redis.StringGetAsync(Key("shared")));

        // Pipelining: the write loop put many commands in each socket write.
        var connection = redis.Current!;
        Assert.True(connection.Flushes < connection.CommandsWritten / 2, $"{connection.Flushes} flushes for {connection.CommandsWritten} commands");
    }

    [Fact]
    public async Task ScriptEvaluate_FallsBackToEvalAfterScriptFlush()
    {
        await using var redis = await ConnectAsync();
        var script = LuaScript.Prepare("return {KEYS[1], ARGV[1], redis.call('INCRBY', KEYS[1], ARGV[2])} -- " + _prefix);

        Assert.Equal(0, (await redis.ExecuteAsync("SCRIPT", "EXISTS", script.Sha1))[0].AsInt64());
        var first = await redis.ScriptEvaluateAsync(script, [Key("k")], ["hello", 2]);   // NOSCRIPT -> EVAL
        Assert.Equal(new string?[] { Key("k"), "hello", "2" }, Array.ConvertAll(first.AsArray()!, static r => r.AsString()));
        Assert.Equal(1, (await redis.ExecuteAsync("SCRIPT", "EXISTS", script.Sha1))[0].AsInt64());

        Assert.Equal(4, (await redis.ScriptEvaluateAsync(script, [Key("k")], ["x", 2]))[2].AsInt64()); // EVALSHA hit

        await redis.ExecuteAsync("SCRIPT", "FLUSH");
        Assert.Equal(0, (await redis.ExecuteAsync("SCRIPT", "EXISTS", script.Sha1))[0].AsInt64());
        Assert.Equal(6, (await redis.ScriptEvaluateAsync(script, [Key("k")], ["x", 2]))[2].AsInt64()); // NOSCRIPT -> EVAL again
        Assert.Equal(1, (await redis.ExecuteAsync("SCRIPT", "EXISTS", script.Sha1))[0].AsInt64());
    }

    [Fact]
    public async Task ScriptLoad_ReturnsTheSameSha1AndEvaluates()
    {
        await using var redis = await ConnectAsync();
        var loaded = await redis.ScriptLoadAsync(LuaScript.Prepare("return ARGV[1] .. '!' -- " + _prefix));

        Assert.Equal(loaded.Script.Sha1, loaded.Sha1);
        Assert.Equal("hi!", (await redis.ScriptEvaluateAsync(loaded, args: ["hi"])).AsString());
    }

    [Fact]
    public async Task ScriptError_ThrowsServerExceptionWithTheScriptMessage()
    {
        await using var redis = await ConnectAsync();

        var ex = await Assert.ThrowsAsync<RedisServerException>(() => redis.ScriptEvaluateAsync("return redis.error_reply('LIMIT exceeded for ' .. KEYS[1])", [Key("e")]));

        Assert.Equal("LIMIT", ex.ErrorCode);
        Assert.Contains("exceeded for " + Key("e"), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GcraRateLimitScript_AllowsTheBurstThenDeniesWithRetryAfter()
    {
        await using var redis = await ConnectAsync();
        // 5 requests per 60 s with a burst of 5: emission interval 12 000 ms, tolerance 60 000 ms.
        var key = Key("gcra");
        for (var i = 0; i < 5; i++)
        {
            var allowed = await redis.ScriptEvaluateAsync(GcraScript, [key], [12_000, 60_000, 1]);
            Assert.Equal(1, allowed[0].AsInt64());
        }

        var denied = await redis.ScriptEvaluateAsync(GcraScript, [key], [12_000, 60_000, 1]);
        Assert.Equal(0, denied[0].AsInt64());
        Assert.InRange(denied[1].AsInt64(), 1, 12_000); // retry after, ms
        var ttl = (long)await redis.ExecuteAsync("PTTL", key);
        Assert.InRange(ttl, 48_000, 60_000); // the state expires once the bucket would be full again

        var otherKey = await redis.ScriptEvaluateAsync(GcraScript, [Key("gcra2")], [12_000, 60_000, 1]);
        Assert.Equal(1, otherKey[0].AsInt64());
    }

    [Fact]
    public async Task PubSub_DeliversToEveryHandlerAndStopsAfterDispose()
    {
        await using var redis = await ConnectAsync();
        var channel = Key("revocations");
        var first = new TaskCompletionSource<RedisChannelMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new TaskCompletionSource<RedisChannelMessage>(TaskCreationOptions.RunContinuationsAsynchronously);

        var sub1 = await redis.SubscribeAsync(channel, m => first.TrySetResult(m));
        var sub2 = await redis.SubscribeAsync(channel, m => second.TrySetResult(m));
        Assert.Equal(1, await redis.PublishAsync(channel, "key-123 revoked")); // one subscribed connection

        var message = await first.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(channel, message.Channel);
        Assert.Equal("key-123 revoked", message.Text);
        Assert.Equal("key-123 revoked", (await second.Task.WaitAsync(TimeSpan.FromSeconds(5))).Text);

        await sub1.DisposeAsync();
        Assert.Equal(1, await redis.PublishAsync(channel, "still subscribed via sub2"));
        await sub2.DisposeAsync();
        await Wait.UntilAsync(() => redis.PublishAsync(channel, "x").Result == 0, "the server dropped the subscription");
    }

    [Fact]
    public async Task PubSub_ThrowingHandler_DoesNotStopDeliveryToOthers()
    {
        await using var redis = await ConnectAsync();
        var channel = Key("c");
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var bad = await redis.SubscribeAsync(channel, _ => throw new InvalidOperationException("handler bug"));
        await using var good = await redis.SubscribeAsync(channel, m => received.TrySetResult(m.Text));

        await redis.PublishAsync(channel, "one");
        await redis.PublishAsync(channel, "two");

        Assert.Equal("one", await received.Task.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(redis.IsConnected);
    }

    [Fact]
    public async Task PreCancelledToken_IsCancelledAndNeverSent()
    {
        await using var redis = await ConnectAsync();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => redis.IncrByAsync(Key("n"), 1, cts.Token));

        Assert.Null(await redis.StringGetAsync(Key("n")));
    }

    [Fact]
    public async Task CancelWhileInFlight_CallerReturnsAtOnceAndTheLateReplyIsDiscardedInOrder()
    {
        await using var control = await ConnectAsync();
        await using var redis = await ConnectAsync();
        await redis.StringSetAsync(Key("marker"), "a");
        Task<string?> get;

        await control.ExecuteAsync("CLIENT", "PAUSE", 10_000, "WRITE"); // INCRBY will wait in the server
        try
        {
            using var cts = new CancellationTokenSource();
            var incr = redis.IncrByAsync(Key("n"), 5, cts.Token);
            await Wait.UntilAsync(() => redis.Current!.InFlight >= 1, "INCRBY was written to the socket");
            get = redis.StringGetAsync(Key("marker")); // queued behind the paused INCRBY

            await cts.CancelAsync();

            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => incr);
            Assert.False(get.IsCompleted);
        }
        finally
        {
            await control.ExecuteAsync("CLIENT", "UNPAUSE");
        }

        Assert.Equal("a", await get); // not 5: the INCRBY reply was read and thrown away
        Assert.Equal("5", await redis.StringGetAsync(Key("n"))); // it was sent, so it ran
    }

    [Fact]
    public async Task DatabaseAndClientName_AreAppliedOnConnect()
    {
        await using var db5 = await ConnectAsync(o =>
        {
            o.Database = 5;
            o.ClientName = "gateway-test";
        });
        await using var db0 = await ConnectAsync();

        await db5.StringSetAsync(Key("where"), "db5");

        Assert.Equal("db5", await db5.StringGetAsync(Key("where")));
        Assert.Null(await db0.StringGetAsync(Key("where")));
        Assert.Equal("gateway-test", (await db5.ExecuteAsync("CLIENT", "GETNAME")).AsString());
    }

    [Fact]
    public async Task OutOfRangeDatabase_FailsConnectNamingTheSetting()
    {
        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => ConnectAsync(o => o.Database = 999));
        Assert.Contains("RedisOptions.Database 999", ex.Message, StringComparison.Ordinal);
        Assert.IsType<RedisServerException>(ex.InnerException);
    }

    [Fact]
    public async Task Dispose_FailsLaterCallsWithObjectDisposed()
    {
        var redis = await ConnectAsync();
        await redis.DisposeAsync();

        Assert.False(redis.IsConnected);
        Assert.Throws<ObjectDisposedException>(() => { _ = redis.StringGetAsync(Key("x")); });
    }

    internal const string GcraScript = """
        -- GCRA: KEYS[1] state key; ARGV[1] emission interval ms (period / limit);
        -- ARGV[2] burst tolerance ms (interval * burst); ARGV[3] cost.
        -- Returns {1, 0} when allowed, {0, retry_after_ms} when denied. Time is the server's, so all replicas agree.
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local interval = tonumber(ARGV[1])
        local tolerance = tonumber(ARGV[2])
        local cost = tonumber(ARGV[3])
        local tat = tonumber(redis.call('GET', KEYS[1])) or now
        if tat < now then tat = now end
        local new_tat = tat + interval * cost
        local allow_at = new_tat - tolerance
        if allow_at > now then
          return {0, allow_at - now}
        end
        redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
        return {1, 0}
        """;

    private string Key(string name) => _prefix + name;

    private Task<RedisConnection> ConnectAsync(Action<RedisOptions>? configure = null)
    {
        var options = new RedisOptions { Endpoint = fixture.Server.Endpoint };
        configure?.Invoke(options);
        return RedisConnection.ConnectAsync(options);
    }
}
