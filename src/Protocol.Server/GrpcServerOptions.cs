using Gateway.Grpc.Protocol.Compression;

namespace Gateway.Grpc.Protocol.Server;

public sealed class GrpcServerOptions
{
    /// <summary>Largest request message accepted (default 4 MiB; null = unlimited).</summary>
    public int? MaxReceiveMessageSize { get; set; } = Protocol.Internal.GrpcProtocolConstants.DefaultMaxReceiveMessageSize;

    /// <summary>Largest response message sent (default unlimited).</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>Codings the server can decode and encode.</summary>
    public IReadOnlyList<ICompressionProvider> CompressionProviders { get; set; } = Compression.CompressionProviders.Default;

    /// <summary>Compress responses with this coding when the client accepts it (default: none).</summary>
    public string? ResponseCompressionAlgorithm { get; set; }

    /// <summary>Put exception messages in grpc-message for unexpected handler errors (off: they can leak internals).</summary>
    public bool EnableDetailedErrors { get; set; }

    /// <summary>
    /// Told of every gRPC request answered without reaching its handler: unknown service or method,
    /// wrong content-type, method or HTTP version, a request message that is malformed, too large
    /// or in an unsupported coding. Arguments: the method's full name when it is registered (else
    /// null, so callers cannot mint labels) and the status sent. For metrics; must not throw.
    /// </summary>
    public Action<string?, StatusCode>? CallRejected { get; set; }
}
