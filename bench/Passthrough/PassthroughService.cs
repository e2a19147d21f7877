using Gateway.V1;
using Grpc.Core;

namespace Gateway.Grpc.Bench.Passthrough;

/// <summary>
/// Forwards both calls to the upstream gateway.v1 server over the one shared channel. Deadline
/// and cancellation travel with the call; the request, the response messages and the upstream's
/// status (an <see cref="RpcException"/> rethrown as is) are forwarded unchanged. No metadata,
/// auth, logging or metrics: this is the cost of grpc-dotnet itself, the floor the gateway's
/// column is compared with.
/// </summary>
internal sealed class PassthroughService(Completion.CompletionClient upstream) : Completion.CompletionBase
{
    public override async Task<CompletionResponse> Complete(CompletionRequest request, ServerCallContext context)
    {
        using var call = upstream.CompleteAsync(request, Options(context));
        return await call.ResponseAsync;
    }

    public override async Task StreamComplete(CompletionRequest request, IServerStreamWriter<CompletionChunk> responseStream, ServerCallContext context)
    {
        using var call = upstream.StreamComplete(request, Options(context));
        var upstreamChunks = call.ResponseStream;
        while (await upstreamChunks.MoveNext(context.CancellationToken))
        {
            await responseStream.WriteAsync(upstreamChunks.Current, context.CancellationToken);
        }
    }

    // ServerCallContext.Deadline is DateTime.MaxValue without a grpc-timeout, which the client
    // also reads as "no deadline".
    private static CallOptions Options(ServerCallContext context)
        => new(deadline: context.Deadline, cancellationToken: context.CancellationToken);
}
