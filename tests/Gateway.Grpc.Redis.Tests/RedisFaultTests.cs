using Gateway.Grpc.Redis.Tests.Infrastructure;

namespace Gateway.Grpc.Redis.Tests;

/// <summary>What a real Redis never does, from a scripted fake peer: garbage, one-byte writes, silence.</summary>
public sealed class RedisFaultTests
{
    [Fact]
    public async Task MalformedReply_ResetsTheConnectionWithAProtocolError()
    {
        var garbage = 1;
        await using var server = FakeRedisServer.WithHandshake((client, command) =>
            Interlocked.Exchange(ref garbage, 0) == 1
                ? client.SendAsync("HTTP/1.1 400 Bad Request\r\n\r\n")
                : client.SendAsync("$2\r\nok\r\n"));
        await using var redis = await ConnectAsync(server.Endpoint);
        var states = new StateRecorder(redis);

        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => redis.StringGetAsync("k"));

        Assert.Contains("Protocol error from Redis at " + server.Endpoint, ex.Message, StringComparison.Ordinal);
        Assert.Contains("expected a type marker (+ - : $ *) but got 0x48 ('H')", ex.Message, StringComparison.Ordinal);
        var protocol = Assert.IsType<RedisProtocolException>(ex.InnerException);
        Assert.StartsWith("Invalid RESP2", protocol.Message, StringComparison.Ordinal);
        var lost = await states.NextAsync();
        Assert.False(lost.IsConnected);
        Assert.IsType<RedisProtocolException>(lost.Exception!.InnerException);

        Assert.True((await states.NextAsync()).IsConnected); // a fresh connection replaces the reset one
        Assert.Equal("ok", await redis.StringGetAsync("k"));
        Assert.Equal(2, server.ConnectionCount);
    }

    [Fact]
    public async Task UnsolicitedReply_IsAProtocolError()
    {
        await using var server = FakeRedisServer.WithHandshake((client, _) => client.SendAsync("+OK\r\n+OK\r\n"));
        await using var redis = await ConnectAsync(server.Endpoint);
        var states = new StateRecorder(redis);

        await redis.ExecuteAsync("SET", "k", "v"); // gets the first +OK; the second has no command waiting

        var lost = await states.NextAsync();
        Assert.Contains("a reply arrived with no command waiting for it", lost.Exception!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RepliesArrivingOneByteAtATime_AreParsedAndMatched()
    {
        await using var server = FakeRedisServer.WithHandshake((client, command) => client.SendOneByteAtATimeAsync(command[0] switch
        {
            "GET" => $"${command[1].Length}\r\n{command[1]}\r\n",
            "LRANGE" => "*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n-ERR nested\r\n",
            _ => "-ERR unexpected\r\n",
        }));
        await using var redis = await ConnectAsync(server.Endpoint);

        var gets = Enumerable.Range(0, 20).Select(i => redis.StringGetAsync("key" + i)).ToArray();
        var array = await redis.ExecuteAsync("LRANGE", "l", 0, -1);

        Assert.Equal(Enumerable.Range(0, 20).Select(i => "key" + i), await Task.WhenAll(gets));
        Assert.Equal(1, array[0].AsInt64());
        Assert.Equal("a", array[1][0].AsString());
        Assert.True(array[1][1].IsNull);
        Assert.Equal("ERR nested", array[2].AsString());
    }

    [Fact]
    public async Task NoReplyWithinCommandTimeout_TimesOutOnTheClockAndTheLateReplyIsDiscarded()
    {
        var silent = new TaskCompletionSource<FakeClient>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = FakeRedisServer.WithHandshake((client, command) =>
        {
            if (command[1] == "slow")
            {
                silent.TrySetResult(client);
                return Task.CompletedTask;
            }

            return client.SendAsync($"${command[1].Length}\r\n{command[1]}\r\n");
        });
        var clock = new ManualTimeProvider();
        await using var redis = await RedisConnection.ConnectAsync(new RedisOptions
        {
            Endpoint = server.Endpoint,
            CommandTimeout = TimeSpan.FromSeconds(1),
            TimeProvider = clock,
        });

        var slow = redis.StringGetAsync("slow");
        var client = await silent.Task.WaitAsync(TimeSpan.FromSeconds(10)); // the server has the command

        clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(slow.IsCompleted);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(slow.IsFaulted);
        var ex = await Assert.ThrowsAsync<RedisTimeoutException>(() => slow);
        Assert.Contains("No reply to GET within 1000 ms (RedisOptions.CommandTimeout)", ex.Message, StringComparison.Ordinal);

        var next = redis.StringGetAsync("fast"); // queued behind the timed-out GET on the wire
        await client.SendAsync("$4\r\nlate\r\n");
        Assert.Equal("fast", await next);
        Assert.True(redis.IsConnected);
    }

    [Fact]
    public async Task ServerThatNeverAnswersTheHandshake_FailsConnectAfterConnectTimeout()
    {
        await using var server = new FakeRedisServer((_, _) => Task.CompletedTask);

        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => RedisConnection.ConnectAsync(new RedisOptions
        {
            Endpoint = server.Endpoint,
            ConnectTimeout = TimeSpan.FromMilliseconds(300),
        }));

        Assert.Contains("within 300 ms (RedisOptions.ConnectTimeout)", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dispose_FailsInFlightCommands()
    {
        await using var server = FakeRedisServer.WithHandshake((_, _) => Task.CompletedTask);
        var redis = await ConnectAsync(server.Endpoint);
        var pending = redis.StringGetAsync("k");
        await Wait.UntilAsync(() => redis.Current?.InFlight == 1, "GET was written");

        await redis.DisposeAsync();

        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => pending);
        Assert.Contains("disposed", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CancelledWhileQueuedBehindABlockedWrite_IsNeverSent()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = FakeRedisServer.WithHandshake((client, command) =>
            client.SendAsync(command[0] == "SET" ? "+OK\r\n" : $"${command[1].Length}\r\n{command[1]}\r\n"));
        server.ReadGate = gate;
        await using var redis = await RedisConnection.ConnectAsync(new RedisOptions { Endpoint = server.Endpoint, TimeProvider = new ManualTimeProvider() });

        // 50 MB into a peer that is not reading: the write loop blocks in its flush once the socket buffers fill.
        var big = redis.ExecuteAsync("SET", "big", new byte[50 * 1024 * 1024]);
        await Wait.UntilAsync(() => redis.Current!.InFlight == 1, "the write loop took the SET");
        using var cts = new CancellationTokenSource();
        var cancelled = redis.StringGetAsync("never", cts.Token);
        var sent = redis.StringGetAsync("sent");
        await cts.CancelAsync();
        gate.SetResult();

        Assert.True(cancelled.IsCanceled);
        Assert.Same(RedisResult.Ok, await big);
        Assert.Equal("sent", await sent);
        var received = server.Clients.Single().Received.Select(c => string.Join(' ', c.Take(2))).ToArray();
        Assert.Equal(["PING", "SET big", "GET sent"], received);
    }

    private static Task<RedisConnection> ConnectAsync(string endpoint)
        => RedisConnection.ConnectAsync(new RedisOptions { Endpoint = endpoint, ReconnectMaxDelay = TimeSpan.FromMilliseconds(100) });
}
