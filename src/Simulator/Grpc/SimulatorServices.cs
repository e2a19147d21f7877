using Gateway.V1;
using Grpc.Core;

namespace Gateway.Grpc.Simulator.Grpc;

/// <summary>gateway.v1.Completion on grpc-dotnet; the behaviour and the faults live in <see cref="GrpcSimulator"/>.</summary>
internal sealed class CompletionService(GrpcSimulator simulator) : Completion.CompletionBase
{
    public override Task<CompletionResponse> Complete(CompletionRequest request, ServerCallContext context)
        => simulator.CompleteAsync(request, context);

    public override Task StreamComplete(CompletionRequest request, IServerStreamWriter<CompletionChunk> responseStream, ServerCallContext context)
        => simulator.StreamCompleteAsync(request, responseStream, context);
}

/// <summary>gateway.v1.Models on grpc-dotnet.</summary>
internal sealed class ModelsService(GrpcSimulator simulator) : Models.ModelsBase
{
    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
        => simulator.ListModelsAsync(request, context);
}
