using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Protocol.Server;

/// <summary>What a handler knows about its call, and how it shapes the response.</summary>
public abstract class ServerCallContext
{
    /// <summary>The full method name, <c>/package.Service/Method</c>.</summary>
    public abstract string Method { get; }

    public abstract string Host { get; }

    public abstract string Peer { get; }

    /// <summary>UTC deadline from grpc-timeout, or <see cref="DateTime.MaxValue"/>.</summary>
    public abstract DateTime Deadline { get; }

    /// <summary>Request metadata (transport headers removed).</summary>
    public abstract Metadata RequestHeaders { get; }

    /// <summary>Cancelled when the client cancels or disconnects, or the deadline passes.</summary>
    public abstract CancellationToken CancellationToken { get; }

    /// <summary>Metadata sent after the last message.</summary>
    public abstract Metadata ResponseTrailers { get; }

    /// <summary>The status the call ends with when the handler returns normally.</summary>
    public abstract Status Status { get; set; }

    /// <summary>Default write options for response messages.</summary>
    public abstract WriteOptions? WriteOptions { get; set; }

    /// <summary>Whether the last request message read arrived compressed.</summary>
    public abstract bool LastRequestMessageCompressed { get; }

    public abstract HttpContext GetHttpContext();

    /// <summary>The peer in gRPC's form: <c>ipv4:1.2.3.4:5678</c>, <c>ipv6:ADDRESS:PORT</c>, or "unknown".</summary>
    protected static string FormatPeer(ConnectionInfo connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var address = connection.RemoteIpAddress;
        return address is null
            ? "unknown"
            : $"ipv{(address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 6 : 4)}:{address}:{connection.RemotePort}";
    }

    /// <summary>Sends response headers now (otherwise they go with the first message).</summary>
    public abstract Task WriteResponseHeadersAsync(Metadata responseHeaders);

    /// <summary>
    /// Compresses response messages with this coding if the client accepts it. Must be called
    /// before headers are sent; returns false when the client does not accept the coding.
    /// </summary>
    public abstract bool TrySetResponseCompression(string encoding);
}
