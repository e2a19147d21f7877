namespace Gateway.Grpc.Protocol.Internal;

internal static class GrpcProtocolConstants
{
    public const string GrpcContentType = "application/grpc";
    public const string TimeoutHeader = "grpc-timeout";
    public const string MessageEncodingHeader = "grpc-encoding";
    public const string MessageAcceptEncodingHeader = "grpc-accept-encoding";
    public const string StatusTrailer = "grpc-status";
    public const string MessageTrailer = "grpc-message";
    public const string StatusDetailsTrailer = "grpc-status-details-bin";
    public const string IdentityEncoding = "identity";
    public const int MessageHeaderSize = 5;

    /// <summary>PROTOCOL-HTTP2: the default receive limit is 4 MiB.</summary>
    public const int DefaultMaxReceiveMessageSize = 4 * 1024 * 1024;

    /// <summary>
    /// PROTOCOL-HTTP2 "Content-Type": <c>application/grpc</c> optionally followed by
    /// <c>+format</c> or <c>;params</c>. <c>application/grpc-web</c> does not match.
    /// </summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (contentType is null || !contentType.StartsWith(GrpcContentType, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (contentType.Length == GrpcContentType.Length)
        {
            return true;
        }

        var next = contentType[GrpcContentType.Length];
        return next is '+' or ';';
    }

    /// <summary>Headers the transport owns; never shown to the application as metadata.</summary>
    public static bool IsReservedHeader(string name)
    {
        if (name.Length == 0 || name[0] == ':')
        {
            return true;
        }

        return name.Equals("content-type", StringComparison.OrdinalIgnoreCase)
            || name.Equals("te", StringComparison.OrdinalIgnoreCase)
            || name.Equals("host", StringComparison.OrdinalIgnoreCase)
            || name.Equals("accept-encoding", StringComparison.OrdinalIgnoreCase)
            || name.Equals("content-encoding", StringComparison.OrdinalIgnoreCase)
            || name.Equals("content-length", StringComparison.OrdinalIgnoreCase)
            || name.Equals(TimeoutHeader, StringComparison.OrdinalIgnoreCase)
            || name.Equals(MessageEncodingHeader, StringComparison.OrdinalIgnoreCase)
            || name.Equals(MessageAcceptEncodingHeader, StringComparison.OrdinalIgnoreCase)
            || name.Equals(StatusTrailer, StringComparison.OrdinalIgnoreCase)
            || name.Equals(MessageTrailer, StringComparison.OrdinalIgnoreCase);
    }
}
