using System.Text;
using Gateway.Grpc.Caching.Internal;
using StackExchange.Redis;

namespace Gateway.Grpc.Caching.Semantic;

/// <summary>
/// Shares the semantic index through Redis: each entry is written under
/// <c>gw:cache:s:{bucket}:{answerKey}</c> (with the answer's TTL) and published on the
/// <c>gw:cache:s</c> channel; every replica subscribes and adds what it hears to its own
/// in-memory index, and on start loads the entries already in Redis (at most the index bound).
/// An entry published while a replica was disconnected reaches it at its next start only.
/// </summary>
internal sealed class SemanticSync(RedisCacheConnection connection, VectorIndex index, TimeProvider timeProvider) : ISemanticSync
{
    public const string KeyPrefix = "gw:cache:s:";
    public static readonly RedisChannel Channel = RedisChannel.Literal("gw:cache:s");

    private readonly CancellationTokenSource _stopping = new();
    private Task? _started;

    /// <summary>Subscribes and loads what Redis holds, in the background, retrying until Redis answers.</summary>
    public Task StartAsync()
    {
        _started ??= Task.Run(RunAsync);
        return _started;
    }

    public async ValueTask PublishAsync(VectorEntry entry, TimeSpan ttl)
    {
        try
        {
            var db = await connection.TryGetDatabaseAsync().ConfigureAwait(false);
            if (db is null)
            {
                return;
            }

            var payload = Encode(entry);
            await db.StringSetAsync(KeyPrefix + entry.Bucket + ":" + entry.AnswerKey, payload, ttl).ConfigureAwait(false);
            await db.PublishAsync(Channel, payload).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            connection.LogFailure("PUBLISH", ex);
        }
    }

    private async Task RunAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var multiplexer = await connection.Multiplexer.ConfigureAwait(false);
                var queue = await multiplexer.GetSubscriber().SubscribeAsync(Channel).ConfigureAwait(false);
                queue.OnMessage(message =>
                {
                    if (Decode(message.Message) is { } entry)
                    {
                        index.Add(entry);
                    }
                });
                await LoadAsync(multiplexer).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                connection.LogFailure("SUBSCRIBE", ex);
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task LoadAsync(ConnectionMultiplexer multiplexer)
    {
        var db = multiplexer.GetDatabase();
        var loaded = 0;
        foreach (var server in multiplexer.GetServers())
        {
            await foreach (var key in server.KeysAsync(db.Database, KeyPrefix + "*", pageSize: 500).ConfigureAwait(false))
            {
                var value = await db.StringGetAsync(key).ConfigureAwait(false);
                if (!value.IsNull && Decode(value) is { } entry)
                {
                    index.Add(entry);
                }

                if (++loaded >= index.MaxEntries || _stopping.IsCancellationRequested)
                {
                    return;
                }
            }
        }
    }

    internal static byte[] Encode(VectorEntry entry)
    {
        using var stream = new MemoryStream(64 + (entry.Vector.Length * 4));
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write((byte)1);
            writer.Write(entry.ExpiresAt.ToUnixTimeMilliseconds());
            writer.Write(entry.Bucket);
            writer.Write(entry.AnswerKey);
            writer.Write(entry.Vector.Length);
            foreach (var value in entry.Vector)
            {
                writer.Write(value);
            }
        }

        return stream.ToArray();
    }

    internal VectorEntry? Decode(RedisValue value)
    {
        if (value.IsNull)
        {
            return null;
        }

        try
        {
            using var reader = new BinaryReader(new MemoryStream((byte[])value!), Encoding.UTF8);
            if (reader.ReadByte() != 1)
            {
                return null;
            }

            var expires = DateTimeOffset.FromUnixTimeMilliseconds(reader.ReadInt64());
            var bucket = reader.ReadString();
            var answerKey = reader.ReadString();
            var length = reader.ReadInt32();
            if (length is <= 0 or > 4096)
            {
                return null;
            }

            var vector = new float[length];
            for (var i = 0; i < length; i++)
            {
                vector[i] = reader.ReadSingle();
            }

            return expires <= timeProvider.GetUtcNow() ? null : new VectorEntry(bucket, answerKey, vector, expires);
        }
        catch (EndOfStreamException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
