using System.Globalization;
using Gateway.Grpc.Adapters;
using Grpc.Core;

namespace Gateway.Grpc.Server.Dispatch;

/// <summary>
/// The one place a normalized provider error becomes a gRPC status. The error class travels in
/// the <c>gateway-error-kind</c> trailer and a provider's retry-after in <c>retry-after-ms</c>.
/// </summary>
internal static class ErrorMapping
{
    public const string ErrorKindTrailer = Gateway.Grpc.Governance.GovernanceService.ErrorKindTrailer;
    public const string RetryAfterTrailer = Gateway.Grpc.Governance.GovernanceService.RetryAfterTrailer;

    /// <summary>Every attempt of a failed call (deployment, outcome, error class), in one trailer.</summary>
    public const string AttemptsTrailer = "gateway-attempts";

    public static StatusCode ToStatusCode(ProviderErrorKind kind) => kind switch
    {
        ProviderErrorKind.RateLimited => StatusCode.ResourceExhausted,
        ProviderErrorKind.Overloaded => StatusCode.Unavailable,
        ProviderErrorKind.ServerError => StatusCode.Unavailable,
        ProviderErrorKind.Timeout => StatusCode.DeadlineExceeded,
        ProviderErrorKind.ConnectionFailure => StatusCode.Unavailable,
        ProviderErrorKind.BadRequest => StatusCode.InvalidArgument,
        ProviderErrorKind.ContextLengthExceeded => StatusCode.InvalidArgument,
        ProviderErrorKind.AuthFailure => StatusCode.Internal,
        ProviderErrorKind.ContentFiltered => StatusCode.InvalidArgument,
        ProviderErrorKind.StreamInterrupted => StatusCode.Unavailable,
        ProviderErrorKind.ModelNotFound => StatusCode.NotFound,
        _ => StatusCode.Unknown,
    };

    public static RpcException ToRpcException(ProviderException error, string upstream)
    {
        var trailers = new Metadata { { ErrorKindTrailer, error.KindName } };
        if (error.RetryAfter is { } retryAfter)
        {
            trailers.Add(RetryAfterTrailer, ((long)retryAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        }

        return new RpcException(new Status(ToStatusCode(error.Kind), $"Upstream {upstream} failed ({error.KindName}): {error.Message}"), trailers);
    }
}
