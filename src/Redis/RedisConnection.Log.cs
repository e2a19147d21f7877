using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Redis;

public sealed partial class RedisConnection
{
    internal static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Redis {Kind} connection to {Endpoint} is up.", EventName = "RedisConnected")]
        public static partial void Connected(ILogger logger, RedisConnectionKind kind, string endpoint);

        [LoggerMessage(2, LogLevel.Warning, "Redis {Kind} connection to {Endpoint} lost; in-flight commands failed, reconnecting in the background. Cause: {Reason}", EventName = "RedisConnectionLost")]
        public static partial void ConnectionLost(ILogger logger, RedisConnectionKind kind, string endpoint, string? reason);

        [LoggerMessage(3, LogLevel.Debug, "Redis {Kind} connect attempt {Attempt} to {Endpoint} failed: {Reason}; next attempt in {DelayMs} ms.", EventName = "RedisReconnectFailed")]
        public static partial void ReconnectAttemptFailed(ILogger logger, RedisConnectionKind kind, string endpoint, int attempt, string reason, long delayMs);

        [LoggerMessage(4, LogLevel.Warning, "Could not connect to Redis at {Endpoint}: {Reason}; retrying in the background (RedisOptions.AbortOnConnectFail is false).", EventName = "RedisInitialConnectFailed")]
        public static partial void InitialConnectFailed(ILogger logger, string endpoint, string reason);

        [LoggerMessage(5, LogLevel.Error, "A ConnectionStateChanged handler threw; the exception was ignored.", EventName = "RedisEventHandlerFailed")]
        public static partial void EventHandlerFailed(ILogger logger, Exception exception);

        [LoggerMessage(6, LogLevel.Error, "A Pub/Sub handler for channel {Channel} threw; the exception was ignored.", EventName = "RedisSubscriptionHandlerFailed")]
        public static partial void SubscriptionHandlerFailed(ILogger logger, string channel, Exception exception);

        [LoggerMessage(7, LogLevel.Warning, "Unexpected reply on the Redis Pub/Sub connection: {Reply}", EventName = "RedisUnexpectedPubSubReply")]
        public static partial void UnexpectedPubSubReply(ILogger logger, string reply);
    }
}
