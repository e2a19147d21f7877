using Gateway.Grpc.Protocol;
using Gateway.V1;

namespace Gateway.Grpc.Adapters.Grpc;

// Temporary (lead's tree only): lets the old adapter compile until its Grpc.Net.Client version lands.
internal static class CompletionMethods
{
    public static readonly Method<CompletionRequest, CompletionResponse> Complete = new(
        MethodType.Unary, "gateway.v1.Completion", "Complete", Marshallers.Protobuf(CompletionRequest.Parser), Marshallers.Protobuf(CompletionResponse.Parser));

    public static readonly Method<CompletionRequest, CompletionChunk> StreamComplete = new(
        MethodType.ServerStreaming, "gateway.v1.Completion", "StreamComplete", Marshallers.Protobuf(CompletionRequest.Parser), Marshallers.Protobuf(CompletionChunk.Parser));
}
