namespace Gateway.Grpc.Client.Internal;

internal static class GatewayHttpHandler
{
    /// <summary>
    /// HTTP/2 with more connections once the gateway's stream limit (100 by default) is
    /// reached, and keep-alive pings every 5 minutes while calls are open, so a long stream over
    /// an idle-timeout proxy stays up (servers answer faster pings with GOAWAY too_many_pings).
    /// </summary>
    public static SocketsHttpHandler Create() => new()
    {
        EnableMultipleHttp2Connections = true,
        PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        KeepAlivePingDelay = TimeSpan.FromMinutes(5),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        ConnectTimeout = TimeSpan.FromSeconds(10),
    };
}
