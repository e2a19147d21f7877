using System.Buffers;
using Google.Protobuf;

namespace Gateway.Grpc.Protocol;

public enum MethodType
{
    Unary,
    ClientStreaming,
    ServerStreaming,
    DuplexStreaming,
}

/// <summary>Turns messages into bytes and back.</summary>
public sealed class Marshaller<T>
{
    public Marshaller(Action<T, IBufferWriter<byte>> serializer, Func<T, int> calculateSize, Func<ReadOnlySequence<byte>, T> deserializer)
    {
        Serializer = serializer;
        CalculateSize = calculateSize;
        Deserializer = deserializer;
    }

    public Action<T, IBufferWriter<byte>> Serializer { get; }

    public Func<T, int> CalculateSize { get; }

    public Func<ReadOnlySequence<byte>, T> Deserializer { get; }
}

public static class Marshallers
{
    /// <summary>A marshaller for a generated protobuf message type.</summary>
    public static Marshaller<T> Protobuf<T>(MessageParser<T> parser)
        where T : IMessage<T>
        => new(
            static (message, writer) => message.WriteTo(writer),
            static message => message.CalculateSize(),
            parser.ParseFrom);
}

/// <summary>Describes one RPC: its kind, full name and marshallers.</summary>
public sealed class Method<TRequest, TResponse>
{
    public Method(MethodType type, string serviceName, string name, Marshaller<TRequest> requestMarshaller, Marshaller<TResponse> responseMarshaller)
    {
        Type = type;
        ServiceName = serviceName;
        Name = name;
        RequestMarshaller = requestMarshaller;
        ResponseMarshaller = responseMarshaller;
        FullName = "/" + serviceName + "/" + name;
    }

    public MethodType Type { get; }

    public string ServiceName { get; }

    public string Name { get; }

    /// <summary>The HTTP/2 :path, <c>/package.Service/Method</c>.</summary>
    public string FullName { get; }

    public Marshaller<TRequest> RequestMarshaller { get; }

    public Marshaller<TResponse> ResponseMarshaller { get; }
}
