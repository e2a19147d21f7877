using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Server;
using Google.Protobuf;
using Grpc.Testing;

namespace Gateway.Grpc.Tests.Interop;

/// <summary>
/// grpc.testing.TestService on our server layer, as grpc doc/interop-test-descriptions.md
/// "Server" defines it: echoes x-grpc-test-echo-initial (headers) and
/// x-grpc-test-echo-trailing-bin (trailers), fills payloads with zeros, honours
/// response_status, expect_compressed, response_compressed and interval_us. UnimplementedCall is
/// deliberately not mapped.
/// </summary>
internal static class TestServiceImpl
{
    public const string EchoInitialKey = "x-grpc-test-echo-initial";
    public const string EchoTrailingKey = "x-grpc-test-echo-trailing-bin";
    private const string Gzip = "gzip";

    public static ServerServiceDefinition Create()
        => ServerServiceDefinition.CreateBuilder(TestServiceMethods.ServiceName, TestReflection.Descriptor)
            .AddMethod(TestServiceMethods.EmptyCall, EmptyCallAsync)
            .AddMethod(TestServiceMethods.UnaryCall, UnaryCallAsync)
            .AddMethod(TestServiceMethods.CacheableUnaryCall, UnaryCallAsync)
            .AddMethod(TestServiceMethods.StreamingOutputCall, StreamingOutputCallAsync)
            .AddMethod(TestServiceMethods.StreamingInputCall, StreamingInputCallAsync)
            .AddMethod(TestServiceMethods.FullDuplexCall, FullDuplexCallAsync)
            .AddMethod(TestServiceMethods.HalfDuplexCall, HalfDuplexCallAsync)
            .Build();

    private static async Task<Empty> EmptyCallAsync(Empty request, ServerCallContext context)
    {
        await EchoMetadataAsync(context);
        return new Empty();
    }

    private static async Task<SimpleResponse> UnaryCallAsync(SimpleRequest request, ServerCallContext context)
    {
        // Compression is chosen before any header goes out.
        if (request.ResponseCompressed?.Value == true && !context.TrySetResponseCompression(Gzip))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "Client does not accept gzip responses."));
        }

        await EchoMetadataAsync(context);
        CheckCompression(request.ExpectCompressed, context);
        ThrowIfStatusRequested(request.ResponseStatus);
        return new SimpleResponse { Payload = Zeros(request.ResponseSize) };
    }

    private static async Task StreamingOutputCallAsync(StreamingOutputCallRequest request, IServerStreamWriter<StreamingOutputCallResponse> responses, ServerCallContext context)
    {
        PrepareCompression(request, context);
        await EchoMetadataAsync(context);
        ThrowIfStatusRequested(request.ResponseStatus);
        await WriteResponsesAsync(request, responses, context);
    }

    private static async Task<StreamingInputCallResponse> StreamingInputCallAsync(IAsyncStreamReader<StreamingInputCallRequest> requests, ServerCallContext context)
    {
        // Headers at once (as the grpc-js reference server does): clients can tell the call began.
        await EchoMetadataAsync(context, sendHeaders: true);
        var total = 0;
        while (await requests.MoveNext(context.CancellationToken))
        {
            CheckCompression(requests.Current.ExpectCompressed, context);
            total += requests.Current.Payload?.Body.Length ?? 0;
        }

        return new StreamingInputCallResponse { AggregatedPayloadSize = total };
    }

    private static async Task FullDuplexCallAsync(IAsyncStreamReader<StreamingOutputCallRequest> requests, IServerStreamWriter<StreamingOutputCallResponse> responses, ServerCallContext context)
    {
        var headersSent = false;
        while (await requests.MoveNext(context.CancellationToken))
        {
            var request = requests.Current;
            if (!headersSent)
            {
                PrepareCompression(request, context);
                await EchoMetadataAsync(context);
                headersSent = true;
            }

            ThrowIfStatusRequested(request.ResponseStatus);
            await WriteResponsesAsync(request, responses, context);
        }

        if (!headersSent)
        {
            await EchoMetadataAsync(context);
        }
    }

    private static async Task HalfDuplexCallAsync(IAsyncStreamReader<StreamingOutputCallRequest> requests, IServerStreamWriter<StreamingOutputCallResponse> responses, ServerCallContext context)
    {
        var pending = new List<StreamingOutputCallRequest>();
        while (await requests.MoveNext(context.CancellationToken))
        {
            pending.Add(requests.Current);
        }

        if (pending.Count > 0)
        {
            PrepareCompression(pending[0], context);
        }

        await EchoMetadataAsync(context);
        foreach (var request in pending)
        {
            ThrowIfStatusRequested(request.ResponseStatus);
            await WriteResponsesAsync(request, responses, context);
        }
    }

    private static async Task WriteResponsesAsync(StreamingOutputCallRequest request, IServerStreamWriter<StreamingOutputCallResponse> responses, ServerCallContext context)
    {
        foreach (var parameters in request.ResponseParameters)
        {
            if (parameters.IntervalUs > 0)
            {
                await Task.Delay(TimeSpan.FromMicroseconds(parameters.IntervalUs), context.CancellationToken);
            }

            // Per-message compression: the call's coding, unless this message asks for none.
            var compress = parameters.Compressed?.Value == true;
            responses.WriteOptions = compress ? null : new WriteOptions(WriteFlags.NoCompress);
            await responses.WriteAsync(new StreamingOutputCallResponse { Payload = Zeros(parameters.Size) }, context.CancellationToken);
        }
    }

    /// <summary>Turns on gzip for the call when any response message of the request asks for it.</summary>
    private static void PrepareCompression(StreamingOutputCallRequest request, ServerCallContext context)
    {
        foreach (var parameters in request.ResponseParameters)
        {
            if (parameters.Compressed?.Value == true)
            {
                context.TrySetResponseCompression(Gzip);
                return;
            }
        }
    }

    private static async Task EchoMetadataAsync(ServerCallContext context, bool sendHeaders = false)
    {
        foreach (var entry in context.RequestHeaders)
        {
            if (entry.Key == EchoTrailingKey)
            {
                context.ResponseTrailers.Add(EchoTrailingKey, entry.ValueBytes);
            }
        }

        var headers = new Metadata();
        if (context.RequestHeaders.Get(EchoInitialKey) is { } initial)
        {
            headers.Add(EchoInitialKey, initial.Value);
        }

        if (headers.Count > 0 || sendHeaders)
        {
            await context.WriteResponseHeadersAsync(headers);
        }
    }

    /// <summary>CompressedRequest feature: INVALID_ARGUMENT when the message's flag differs from what the client claims.</summary>
    private static void CheckCompression(BoolValue? expectCompressed, ServerCallContext context)
    {
        if (expectCompressed is null)
        {
            return;
        }

        if (expectCompressed.Value != context.LastRequestMessageCompressed)
        {
            throw new RpcException(new Status(
                StatusCode.InvalidArgument,
                expectCompressed.Value ? "Expected compressed request, but it was not compressed." : "Expected uncompressed request, but it was compressed."));
        }
    }

    private static void ThrowIfStatusRequested(EchoStatus? status)
    {
        if (status is { Code: not 0 })
        {
            throw new RpcException(new Status((StatusCode)status.Code, status.Message));
        }
    }

    private static Payload Zeros(int size) => new() { Type = PayloadType.Compressable, Body = ByteString.CopyFrom(new byte[size]) };
}
