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
}
