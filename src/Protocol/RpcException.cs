namespace Gateway.Grpc.Protocol;

/// <summary>
/// A call that ended with a non-OK status. Thrown by clients; thrown by server handlers to end a
/// call with the given status and trailers.
/// </summary>
public sealed class RpcException : Exception
{
    public RpcException(Status status)
        : this(status, new Metadata())
    {
    }

    public RpcException(Status status, Metadata trailers)
        : base(status.ToString())
    {
        Status = status;
        Trailers = trailers;
    }

    public RpcException(Status status, Metadata trailers, Exception? inner)
        : base(status.ToString(), inner)
    {
        Status = status;
        Trailers = trailers;
    }

    public RpcException()
        : this(new Status(StatusCode.Unknown, ""))
    {
    }

    public RpcException(string message)
        : this(new Status(StatusCode.Unknown, message))
    {
    }

    public RpcException(string message, Exception innerException)
        : this(new Status(StatusCode.Unknown, message), new Metadata(), innerException)
    {
    }

    public Status Status { get; }

    public StatusCode StatusCode => Status.StatusCode;

    /// <summary>Trailing metadata the call ended with (empty when none).</summary>
    public Metadata Trailers { get; }
}
