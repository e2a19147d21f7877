using Gateway.Grpc.Protocol;
using Google.Protobuf;
using Grpc.Testing;

namespace Gateway.Grpc.Tests.Interop;

/// <summary>Method descriptors of grpc.testing.TestService (tests/protos/grpc/testing/test.proto).</summary>
internal static class TestServiceMethods
{
    public const string ServiceName = "grpc.testing.TestService";
    public const string UnimplementedServiceName = "grpc.testing.UnimplementedService";

    public static readonly Method<Empty, Empty> EmptyCall = Create<Empty, Empty>(MethodType.Unary, "EmptyCall");
    public static readonly Method<SimpleRequest, SimpleResponse> UnaryCall = Create<SimpleRequest, SimpleResponse>(MethodType.Unary, "UnaryCall");
    public static readonly Method<SimpleRequest, SimpleResponse> CacheableUnaryCall = Create<SimpleRequest, SimpleResponse>(MethodType.Unary, "CacheableUnaryCall");
    public static readonly Method<StreamingOutputCallRequest, StreamingOutputCallResponse> StreamingOutputCall = Create<StreamingOutputCallRequest, StreamingOutputCallResponse>(MethodType.ServerStreaming, "StreamingOutputCall");
    public static readonly Method<StreamingInputCallRequest, StreamingInputCallResponse> StreamingInputCall = Create<StreamingInputCallRequest, StreamingInputCallResponse>(MethodType.ClientStreaming, "StreamingInputCall");
    public static readonly Method<StreamingOutputCallRequest, StreamingOutputCallResponse> FullDuplexCall = Create<StreamingOutputCallRequest, StreamingOutputCallResponse>(MethodType.DuplexStreaming, "FullDuplexCall");
    public static readonly Method<StreamingOutputCallRequest, StreamingOutputCallResponse> HalfDuplexCall = Create<StreamingOutputCallRequest, StreamingOutputCallResponse>(MethodType.DuplexStreaming, "HalfDuplexCall");
    public static readonly Method<Empty, Empty> UnimplementedCall = Create<Empty, Empty>(MethodType.Unary, "UnimplementedCall");
    public static readonly Method<Empty, Empty> UnimplementedServiceCall = new(
        MethodType.Unary, UnimplementedServiceName, "UnimplementedCall", Marshallers.Protobuf(Empty.Parser), Marshallers.Protobuf(Empty.Parser));

    private static Method<TRequest, TResponse> Create<TRequest, TResponse>(MethodType type, string name)
        where TRequest : IMessage<TRequest>, new()
        where TResponse : IMessage<TResponse>, new()
        => new(type, ServiceName, name, Marshallers.Protobuf(new MessageParser<TRequest>(() => new TRequest())), Marshallers.Protobuf(new MessageParser<TResponse>(() => new TResponse())));
}
