using System.Runtime.CompilerServices;
using Gateway.V1;
using Grpc.Core;

namespace Gateway.Grpc.Client;

/// <summary>
/// Reads <c>StreamComplete</c> with the gateway's stream contract checked: a stream that ends
/// with status OK delivered exactly one <c>finish</c> event, and it was the last one.
/// </summary>
public static class CompletionStreamExtensions
{
    /// <summary>
    /// Starts <c>StreamComplete</c> when enumeration starts and yields its events (<c>start</c>,
    /// <c>delta</c>/<c>tool_call_delta</c>..., <c>usage</c>, <c>finish</c>). Cancelling
    /// <paramref name="cancellationToken"/> or leaving the loop early cancels the call. A failed
    /// call throws <see cref="RpcException"/> with the server's status and trailers after the
    /// events that came before; an OK stream that broke the contract throws
    /// <see cref="RpcException"/> <see cref="StatusCode.Internal"/>.
    /// </summary>
    public static async IAsyncEnumerable<CompletionChunk> StreamEventsAsync(
        this Completion.CompletionClient client,
        CompletionRequest request,
        CallOptions options = default,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(request);
        using var call = client.StreamComplete(request, options);
        await foreach (var chunk in call.ReadEventsAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return chunk;
        }
    }

    /// <summary>
    /// Reads a <c>StreamComplete</c> call's events with the contract checked (see
    /// <see cref="StreamEventsAsync"/>); the caller keeps the call for headers and trailers, and disposes it.
    /// </summary>
    public static async IAsyncEnumerable<CompletionChunk> ReadEventsAsync(
        this AsyncServerStreamingCall<CompletionChunk> call,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(call);
        var finished = false;
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            var chunk = call.ResponseStream.Current;
            if (finished)
            {
                throw ContractViolation($"The gateway sent a '{chunk.EventCase}' event after the finish event.");
            }

            finished = chunk.EventCase == CompletionChunk.EventOneofCase.Finish;
            yield return chunk;
        }

        if (!finished)
        {
            throw ContractViolation("The stream ended with status OK but without a finish event.");
        }
    }

    private static RpcException ContractViolation(string message) => new(new Status(StatusCode.Internal, message));
}
