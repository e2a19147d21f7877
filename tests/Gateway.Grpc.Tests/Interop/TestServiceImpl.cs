using Google.Protobuf;
using Grpc.Core;
using Grpc.Testing;

namespace Gateway.Grpc.Tests.Interop;

/// <summary>
/// grpc.testing.TestService on Grpc.AspNetCore, as grpc doc/interop-test-descriptions.md
/// "Server" defines it: echoes x-grpc-test-echo-initial (headers) and
/// x-grpc-test-echo-trailing-bin (trailers), fills payloads with zeros, honours
/// response_status, expect_compressed, response_compressed and interval_us. UnimplementedCall is
/// deliberately not overridden: the generated base answers UNIMPLEMENTED.
/// </summary>
internal sealed class TestServiceImpl : TestService.TestServiceBase
{
    public const string EchoInitialKey = "x-grpc-test-echo-initial";
    public const string EchoTrailingKey = "x-grpc-test-echo-trailing-bin";

    /// <summary>
    /// grpc-dotnet's per-call response compression: a response header given to
    /// WriteResponseHeadersAsync, which the server takes as the call's grpc-encoding instead of
    /// sending it.
    /// </summary>
    private const string ResponseEncodingRequestKey = "grpc-internal-encoding-request";
    private const string Gzip = "gzip";

    public override async Task<Empty> EmptyCall(Empty request, ServerCallContext context)
    {
        await EchoMetadataAsync(context);
        return new Empty();
    }

    public override Task<SimpleResponse> UnaryCall(SimpleRequest request, ServerCallContext context) => UnaryAsync(request, context);

    public override Task<SimpleResponse> CacheableUnaryCall(SimpleRequest request, ServerCallContext context) => UnaryAsync(request, context);

    public override async Task StreamingOutputCall(StreamingOutputCallRequest request, IServerStreamWriter<StreamingOutputCallResponse> responseStream, ServerCallContext context)
    {
        await EchoMetadataAsync(context, compress: WantsCompression(request));
        ThrowIfStatusRequested(request.ResponseStatus);
        await WriteResponsesAsync(request, responseStream, context);
    }

    public override async Task<StreamingInputCallResponse> StreamingInputCall(IAsyncStreamReader<StreamingInputCallRequest> requestStream, ServerCallContext context)
    {
        // Headers at once (as the grpc-js reference server does): clients can tell the call began.
        await EchoMetadataAsync(context, sendHeaders: true);
        var total = 0;
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            CheckCompression(requestStream.Current.ExpectCompressed, context);
            total += requestStream.Current.Payload?.Body.Length ?? 0;
        }

        return new StreamingInputCallResponse { AggregatedPayloadSize = total };
    }

    public override async Task FullDuplexCall(IAsyncStreamReader<StreamingOutputCallRequest> requestStream, IServerStreamWriter<StreamingOutputCallResponse> responseStream, ServerCallContext context)
    {
        var headersSent = false;
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            var request = requestStream.Current;
            if (!headersSent)
            {
                await EchoMetadataAsync(context, compress: WantsCompression(request));
                headersSent = true;
            }

            ThrowIfStatusRequested(request.ResponseStatus);
            await WriteResponsesAsync(request, responseStream, context);
        }

        if (!headersSent)
        {
            await EchoMetadataAsync(context);
        }
    }

    public override async Task HalfDuplexCall(IAsyncStreamReader<StreamingOutputCallRequest> requestStream, IServerStreamWriter<StreamingOutputCallResponse> responseStream, ServerCallContext context)
    {
        var pending = new List<StreamingOutputCallRequest>();
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            pending.Add(requestStream.Current);
        }

        await EchoMetadataAsync(context, compress: pending.Count > 0 && WantsCompression(pending[0]));
        foreach (var request in pending)
        {
            ThrowIfStatusRequested(request.ResponseStatus);
            await WriteResponsesAsync(request, responseStream, context);
        }
    }

    private static async Task<SimpleResponse> UnaryAsync(SimpleRequest request, ServerCallContext context)
    {
        // Compression is chosen with the response headers.
        await EchoMetadataAsync(context, compress: request.ResponseCompressed?.Value == true);
        CheckCompression(request.ExpectCompressed, context);
        ThrowIfStatusRequested(request.ResponseStatus);
        return new SimpleResponse { Payload = Zeros(request.ResponseSize) };
    }

    private static async Task WriteResponsesAsync(StreamingOutputCallRequest request, IServerStreamWriter<StreamingOutputCallResponse> responses, ServerCallContext context)
    {
        foreach (var parameters in request.ResponseParameters)
        {
            if (parameters.IntervalUs > 0)
            {
                await Task.Delay(TimeSpan.FromMicroseconds(parameters.IntervalUs), context.CancellationToken);
            }

            // Per-message compression: the call's encoding, unless this message asks for none.
            responses.WriteOptions = parameters.Compressed?.Value == true ? null : new WriteOptions(WriteFlags.NoCompress);
            await responses.WriteAsync(new StreamingOutputCallResponse { Payload = Zeros(parameters.Size) }, context.CancellationToken);
        }
    }

    /// <summary>Whether the call needs gzip: any response message of the request asks for it.</summary>
    private static bool WantsCompression(StreamingOutputCallRequest request)
    {
        foreach (var parameters in request.ResponseParameters)
        {
            if (parameters.Compressed?.Value == true)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Echoes the test metadata; sends the response headers when there is one to echo, when
    /// <paramref name="sendHeaders"/> asks for them, or to turn on gzip.
    /// </summary>
    private static async Task EchoMetadataAsync(ServerCallContext context, bool sendHeaders = false, bool compress = false)
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

        if (compress)
        {
            headers.Add(ResponseEncodingRequestKey, Gzip);
        }

        if (headers.Count > 0 || sendHeaders)
        {
            await context.WriteResponseHeadersAsync(headers);
        }
    }

    /// <summary>
    /// CompressedRequest feature: INVALID_ARGUMENT when the last message's compressed flag differs
    /// from what the client claims. The flag is what <see cref="RecordingGzipCompressionProvider"/>
    /// saw; grpc-dotnet does not expose it otherwise.
    /// </summary>
    private static void CheckCompression(BoolValue? expectCompressed, ServerCallContext context)
    {
        var compressed = RecordingGzipCompressionProvider.TakeDecompressed(context);
        if (expectCompressed is null)
        {
            return;
        }

        if (expectCompressed.Value != compressed)
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
