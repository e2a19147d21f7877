using Gateway.Grpc.Governance.Limits;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Gateway.Grpc.Governance.Keys;

/// <summary>
/// Key changes across replicas through Redis pub/sub: a replica that revokes, rotates or updates a
/// key (or a team) publishes on <c>gw:keys:changed</c>, and every replica drops its cached lookups
/// when it hears it, so a revoked key is refused everywhere within a Redis round trip. Pub/sub is
/// at-most-once (a replica disconnected from Redis misses messages), so the authenticator's cache
/// TTL stays the bound that always holds.
/// </summary>
internal sealed partial class KeyInvalidationChannel(RedisLimitConnection redis, KeyAuthenticator authenticator, TimeProvider timeProvider, ILogger<KeyInvalidationChannel> logger) : IHostedService
{
    public static readonly RedisChannel Channel = RedisChannel.Literal("gw:keys:changed");

    private readonly CancellationTokenSource _stopping = new();
    private Task? _subscribe;
    private bool _subscribed;
    private int _stopped;

    /// <summary>True once the subscription is registered (the library restores it after reconnections).</summary>
    public bool IsSubscribed => Volatile.Read(ref _subscribed);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        authenticator.Broadcast = Publish;
        _subscribe ??= Task.Run(SubscribeAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        authenticator.Broadcast = null;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_subscribe is { } subscribe)
        {
            await subscribe.ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    private void Publish() => _ = PublishAsync();

    private async Task PublishAsync()
    {
        try
        {
            var db = await redis.GetDatabaseAsync(CancellationToken.None).ConfigureAwait(false);
            await db.Multiplexer.GetSubscriber().PublishAsync(Channel, "1").ConfigureAwait(false);
        }
        catch (Exception ex) when (FailoverRateLimitBackend.IsUnreachable(ex))
        {
            Log.PublishFailed(logger, ex);
        }
    }

    private async Task SubscribeAsync()
    {
        // Redis may be down when the gateway starts: keep trying until the subscription is registered.
        // The subscription connection comes up a moment after the first one, so the first failures
        // are expected and only a lasting one is worth a warning (once).
        var failures = 0;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var db = await redis.GetDatabaseAsync(_stopping.Token).ConfigureAwait(false);
                await db.Multiplexer.GetSubscriber().SubscribeAsync(Channel, (_, _) => authenticator.InvalidateLocal()).ConfigureAwait(false);
                Volatile.Write(ref _subscribed, true);
                return;
            }
            catch (Exception ex) when (FailoverRateLimitBackend.IsUnreachable(ex))
            {
                if (++failures == 5)
                {
                    Log.SubscribeFailed(logger, ex);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), timeProvider, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(345, LogLevel.Warning, "Could not publish a key change to the other replicas (Redis unreachable); they see it within the key cache TTL.", EventName = "KeyChangePublishFailed")]
        public static partial void PublishFailed(ILogger logger, Exception exception);

        [LoggerMessage(346, LogLevel.Warning, "Could not subscribe to key changes yet (Redis unreachable); retrying. Until then other replicas' changes arrive within the key cache TTL.", EventName = "KeyChangeSubscribeFailed")]
        public static partial void SubscribeFailed(ILogger logger, Exception exception);
    }
}
