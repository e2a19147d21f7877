using System.Runtime.CompilerServices;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Client;
using Gateway.V1;

namespace Gateway.Grpc.Client;

/// <summary>
/// Client of <c>gateway.v1.Completion</c>. Thread-safe; share one per channel. Failures surface
/// as <see cref="RpcException"/> carrying the call's status and trailing metadata.
/// </summary>
public sealed class CompletionClient
{
    private readonly GrpcChannel _channel;
    private readonly GatewayClientOptions _settings;

    public CompletionClient(GrpcChannel channel, GatewayClientOptions? settings = null)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _channel = channel;
        _settings = settings ?? new GatewayClientOptions();
    }

    /// <summary>Runs one completion and returns the whole answer.</summary>
    public async Task<CompletionResponse> CompleteAsync(CompletionRequest request, CallOptions options = default)
    {
        using var call = CompleteCall(request, options);
        return await call.ResponseAsync.ConfigureAwait(false);
    }

    /// <summary>The unary call itself, for access to response headers, status and trailers.</summary>
    public AsyncUnaryCall<CompletionResponse> CompleteCall(CompletionRequest request, CallOptions options = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _channel.AsyncUnaryCall(CompletionMethods.Complete, request, options.Apply(_settings));
    }

    /// <summary>
    /// Streams a completion as events (<c>start</c>, <c>delta</c>..., <c>usage</c>, <c>finish</c>).
    /// The call starts when enumeration starts. Cancelling <paramref name="cancellationToken"/>
    /// (or <see cref="CallOptions.CancellationToken"/>) or leaving the loop early cancels the call
    /// (the server sees RST_STREAM CANCEL); a failed or cancelled call throws
    /// <see cref="RpcException"/> with its status and trailers.
    /// </summary>
    public async IAsyncEnumerable<CompletionChunk> StreamComplete(
        CompletionRequest request,
        CallOptions options = default,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var call = StreamCompleteCall(request, options);
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            yield return call.ResponseStream.Current;
        }
    }

    /// <summary>The server-streaming call itself, for access to response headers, status and trailers.</summary>
    public AsyncServerStreamingCall<CompletionChunk> StreamCompleteCall(CompletionRequest request, CallOptions options = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _channel.AsyncServerStreamingCall(CompletionMethods.StreamComplete, request, options.Apply(_settings));
    }
}
