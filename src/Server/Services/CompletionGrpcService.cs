using Gateway.Grpc.Server.Pipeline;
using Gateway.V1;
using Grpc.Core;

namespace Gateway.Grpc.Server.Services;

/// <summary>
/// gateway.v1.Completion over gRPC and gRPC-Web: the generated service base, translating the
/// call context into a <see cref="CompletionCall"/> for the one completion pipeline. Not behind
/// <see cref="GatewayServerInterceptor"/>: the request id is resolved here and the pipeline
/// applies the interceptor's error edge (<see cref="CompletionCall.GrpcEdge"/>), so a call pays
/// no interceptor pipeline and no state machine of its own here.
/// </summary>
internal sealed class CompletionGrpcService(CompletionPipeline pipeline, GatewayServerInterceptor edge) : Completion.CompletionBase
{
    public override Task<CompletionResponse> Complete(CompletionRequest request, ServerCallContext context)
        => pipeline.CompleteAsync(request, CallOf(context));

    public override Task StreamComplete(CompletionRequest request, IServerStreamWriter<CompletionChunk> responseStream, ServerCallContext context)
        => pipeline.StreamAsync(request, new GrpcEventWriter(responseStream), CallOf(context));

    private CompletionCall CallOf(ServerCallContext context)
    {
        var http = context.GetHttpContext();
        return new CompletionCall
        {
            Http = http,
            Route = CompletionCall.GrpcRoute,
            ApiKey = CallerHeaders.ApiKey(http.Request),
            RequestId = CallerHeaders.ResolveRequestId(http),
            Deadline = context.Deadline,
            CancellationToken = context.CancellationToken,
            GrpcEdge = edge,
        };
    }

    private sealed class GrpcEventWriter(IServerStreamWriter<CompletionChunk> stream) : ICompletionEventWriter
    {
        public Task WriteAsync(CompletionChunk chunk, CancellationToken cancellationToken) => stream.WriteAsync(chunk, cancellationToken);
    }
}
