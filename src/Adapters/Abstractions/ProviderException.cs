namespace Gateway.Grpc.Adapters;

/// <summary>The normalized classes of upstream failure. Each maps to one gRPC status at the edge.</summary>
public enum ProviderErrorKind
{
    /// <summary>429 from the provider; may carry retry-after.</summary>
    RateLimited,

    /// <summary>The provider says it is overloaded (Anthropic 529, 503 overloaded).</summary>
    Overloaded,

    /// <summary>5xx from the provider.</summary>
    ServerError,

    /// <summary>No answer in time.</summary>
    Timeout,

    /// <summary>Could not connect, or the connection broke before a response.</summary>
    ConnectionFailure,

    /// <summary>The provider refused the request as malformed.</summary>
    BadRequest,

    /// <summary>The prompt does not fit the model's context window.</summary>
    ContextLengthExceeded,

    /// <summary>Our credentials were refused.</summary>
    AuthFailure,

    /// <summary>The provider's content policy blocked the request or the output.</summary>
    ContentFiltered,

    /// <summary>The upstream stream ended without its terminal event.</summary>
    StreamInterrupted,

    /// <summary>The requested model does not exist upstream.</summary>
    ModelNotFound,
}

public sealed class ProviderException : Exception
{
    public ProviderException(ProviderErrorKind kind, string message, TimeSpan? retryAfter = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        RetryAfter = retryAfter;
    }

    public ProviderException()
        : this(ProviderErrorKind.ServerError, "Provider error.")
    {
    }

    public ProviderException(string message)
        : this(ProviderErrorKind.ServerError, message)
    {
    }

    public ProviderException(string message, Exception innerException)
        : this(ProviderErrorKind.ServerError, message, null, innerException)
    {
    }

    public ProviderErrorKind Kind { get; }

    /// <summary>How long the provider asked us to wait, when it said.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>The snake_case name used in attempts, logs and REST errors.</summary>
    public string KindName => KindToName(Kind);

    public static string KindToName(ProviderErrorKind kind) => kind switch
    {
        ProviderErrorKind.RateLimited => "rate_limited",
        ProviderErrorKind.Overloaded => "overloaded",
        ProviderErrorKind.ServerError => "server_error",
        ProviderErrorKind.Timeout => "timeout",
        ProviderErrorKind.ConnectionFailure => "connection_failure",
        ProviderErrorKind.BadRequest => "bad_request",
        ProviderErrorKind.ContextLengthExceeded => "context_length_exceeded",
        ProviderErrorKind.AuthFailure => "auth_failure",
        ProviderErrorKind.ContentFiltered => "content_filtered",
        ProviderErrorKind.StreamInterrupted => "stream_interrupted",
        ProviderErrorKind.ModelNotFound => "model_not_found",
        _ => "unknown",
    };
}
