namespace Gateway.Grpc.Redis;

/// <summary>Base type of every exception this client throws for a Redis failure.</summary>
public class RedisException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RedisException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RedisException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public RedisException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Redis answered with an error reply (<c>-ERR ...</c>, <c>-WRONGTYPE ...</c>, <c>-NOSCRIPT ...</c>).
/// The connection is fine; the command was rejected.
/// </summary>
public sealed class RedisServerException : RedisException
{
    /// <summary>Creates the exception from the server's error message (including its prefix).</summary>
    public RedisServerException(string message)
        : base(message)
    {
        var space = message.IndexOf(' ', StringComparison.Ordinal);
        ErrorCode = space < 0 ? message : message[..space];
    }

    /// <summary>Creates the exception; for serializers and tests.</summary>
    public RedisServerException()
        : this("ERR")
    {
    }

    /// <summary>Creates the exception with a cause.</summary>
    public RedisServerException(string message, Exception? innerException)
        : base(message, innerException)
    {
        var space = message.IndexOf(' ', StringComparison.Ordinal);
        ErrorCode = space < 0 ? message : message[..space];
    }

    /// <summary>The first word of the error: <c>ERR</c>, <c>WRONGTYPE</c>, <c>NOSCRIPT</c>, <c>WRONGPASS</c>, ...</summary>
    public string ErrorCode { get; }
}

/// <summary>
/// The command could not be sent or its reply was lost: not connected (commands fail fast while
/// reconnecting), the connection dropped with the command in flight, a protocol error reset the
/// connection, or the connect/handshake failed. Whether a command that was in flight ran on the
/// server is unknown.
/// </summary>
public sealed class RedisConnectionException : RedisException
{
    /// <summary>Creates the exception.</summary>
    public RedisConnectionException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RedisConnectionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public RedisConnectionException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// No reply within <see cref="RedisOptions.CommandTimeout"/>. The command may still run on the server;
/// its late reply is read and discarded so later replies stay matched.
/// </summary>
public sealed class RedisTimeoutException : RedisException
{
    /// <summary>Creates the exception.</summary>
    public RedisTimeoutException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RedisTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public RedisTimeoutException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The bytes from the server are not valid RESP2. The connection is reset (in-flight commands fail with
/// <see cref="RedisConnectionException"/> whose inner exception is this one) and reconnected.
/// </summary>
public sealed class RedisProtocolException : RedisException
{
    /// <summary>Creates the exception.</summary>
    public RedisProtocolException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RedisProtocolException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public RedisProtocolException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
