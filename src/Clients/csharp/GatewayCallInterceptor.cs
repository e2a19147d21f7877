using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Gateway.Grpc.Client;

/// <summary>
/// Applies <see cref="GatewayClientOptions.ApiKey"/> (as <c>authorization: Bearer &lt;key&gt;</c>)
/// and <see cref="GatewayClientOptions.DefaultTimeout"/> to every call. A call's own
/// <c>authorization</c> entry or deadline wins. <see cref="GatewayClientServiceCollectionExtensions.AddGatewayClients"/>
/// adds it to each client; for a channel built by hand: <c>channel.Intercept(new GatewayCallInterceptor(options))</c>.
/// </summary>
/// <remarks>
/// An interceptor rather than <c>CallCredentials</c>: Grpc.Net.Client sends call credentials
/// only over TLS unless the channel opts out, and gateways are often reached over h2c.
/// </remarks>
public sealed class GatewayCallInterceptor : Interceptor
{
    /// <summary>The metadata key the gateway reads the API key from.</summary>
    public const string AuthorizationKey = "authorization";

    private readonly string? _authorization;
    private readonly TimeSpan? _defaultTimeout;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates the interceptor from the client options (read once).</summary>
    public GatewayCallInterceptor(GatewayClientOptions options)
        : this(options, TimeProvider.System)
    {
    }

    internal GatewayCallInterceptor(GatewayClientOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        _authorization = string.IsNullOrWhiteSpace(options.ApiKey) ? null : "Bearer " + options.ApiKey.Trim();
        _defaultTimeout = options.DefaultTimeout;
        _timeProvider = timeProvider;
    }

    /// <inheritdoc />
    public override TResponse BlockingUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return continuation(request, Apply(context));
    }

    /// <inheritdoc />
    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return continuation(request, Apply(context));
    }

    /// <inheritdoc />
    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return continuation(request, Apply(context));
    }

    /// <inheritdoc />
    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return continuation(Apply(context));
    }

    /// <inheritdoc />
    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return continuation(Apply(context));
    }

    private ClientInterceptorContext<TRequest, TResponse> Apply<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class
        where TResponse : class
    {
        var options = context.Options;
        var changed = false;
        if (_authorization is not null && options.Headers?.Get(AuthorizationKey) is null)
        {
            // The caller's Metadata may be shared between calls: copy it, never change it.
            var headers = new Metadata();
            if (options.Headers is { } callHeaders)
            {
                foreach (var entry in callHeaders)
                {
                    headers.Add(entry);
                }
            }

            headers.Add(AuthorizationKey, _authorization);
            options = options.WithHeaders(headers);
            changed = true;
        }

        if (_defaultTimeout is { } timeout && options.Deadline is null)
        {
            options = options.WithDeadline(_timeProvider.GetUtcNow().UtcDateTime + timeout);
            changed = true;
        }

        return changed ? new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, options) : context;
    }
}
