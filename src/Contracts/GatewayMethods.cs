using Gateway.Grpc.Protocol;

namespace Gateway.V1;

/// <summary>Method descriptors of gateway.v1.Completion (hand-written: Grpc.Tools generates messages only here).</summary>
public static class CompletionMethods
{
    public const string ServiceName = "gateway.v1.Completion";

    private static readonly Marshaller<CompletionRequest> RequestMarshaller = Marshallers.Protobuf(CompletionRequest.Parser);

    public static readonly Method<CompletionRequest, CompletionResponse> Complete = new(
        MethodType.Unary, ServiceName, "Complete", RequestMarshaller, Marshallers.Protobuf(CompletionResponse.Parser));

    public static readonly Method<CompletionRequest, CompletionChunk> StreamComplete = new(
        MethodType.ServerStreaming, ServiceName, "StreamComplete", RequestMarshaller, Marshallers.Protobuf(CompletionChunk.Parser));
}

/// <summary>Method descriptors of gateway.v1.Models.</summary>
public static class ModelsMethods
{
    public const string ServiceName = "gateway.v1.Models";

    public static readonly Method<ListModelsRequest, ListModelsResponse> ListModels = new(
        MethodType.Unary, ServiceName, "ListModels", Marshallers.Protobuf(ListModelsRequest.Parser), Marshallers.Protobuf(ListModelsResponse.Parser));
}
