using System.Diagnostics;
using System.Globalization;
using Gateway.Grpc.Tests.TestInfrastructure;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Testing;

namespace Gateway.Grpc.Tests.Interop;

/// <summary>
/// The generated TestService client on Grpc.Net.Client, with the handler settings our clients
/// use, through the interop scenarios. The same tests run against the grpc-js reference server
/// and against Grpc.AspNetCore configured as the gateway, so a bug on one side cannot hide
/// behind the same bug on the other.
/// </summary>
public abstract class CSharpClientInteropTests : IDisposable
{
    private const string SpecialMessage = "\t\ntest with whitespace\r\nand Unicode BMP \u263A and non-BMP \U0001F608\t\n";
    private static readonly byte[] TrailingValue = [0xab, 0xab, 0xab];

    private readonly RecordingHttpHandler _handler = new();
    private readonly Lazy<GrpcChannel> _channel;

    protected CSharpClientInteropTests()
        => _channel = new Lazy<GrpcChannel>(() => GrpcChannel.ForAddress(ServerAddress, new GrpcChannelOptions { HttpHandler = _handler }));

    protected abstract Uri ServerAddress { get; }

    private TestService.TestServiceClient Client => new(_channel.Value);

    /// <summary>
    /// Call options with a 15 s deadline. <paramref name="compression"/> is the request encoding,
    /// given to Grpc.Net.Client the only way it takes one per call: the
    /// <c>grpc-internal-encoding-request</c> header, which it consumes instead of sending.
    /// </summary>
    private static CallOptions Options(Metadata? headers = null, CancellationToken cancellationToken = default, string? compression = null)
    {
        if (compression is not null)
        {
            headers ??= [];
            headers.Add("grpc-internal-encoding-request", compression);
        }

        return new(headers, DateTime.UtcNow.AddSeconds(15), cancellationToken);
    }

    [Fact]
    public async Task EmptyUnary_ReturnsEmpty()
    {
        var response = await Client.EmptyCallAsync(new Empty(), Options());

        Assert.Equal(new Empty(), response);
    }

    [Fact]
    public async Task LargeUnary_ReturnsZeroPayloadOfRequestedSize()
    {
        var response = await Client.UnaryCallAsync(LargeRequest(), Options());

        AssertZeros(response.Payload, 314159);
    }

    [Fact]
    public async Task ServerStreaming_ReturnsEveryResponseInOrder()
    {
        int[] sizes = [31415, 9, 2653, 58979];
        var request = new StreamingOutputCallRequest();
        foreach (var size in sizes)
        {
            request.ResponseParameters.Add(new ResponseParameters { Size = size });
        }

        using var call = Client.StreamingOutputCall(request, Options());
        var received = new List<int>();
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            AssertZeros(response.Payload, response.Payload.Body.Length);
            received.Add(response.Payload.Body.Length);
        }

        Assert.Equal(sizes, received);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task ClientStreaming_ServerSumsPayloadSizes()
    {
        using var call = Client.StreamingInputCall(Options());
        foreach (var size in new[] { 27182, 8, 1828, 45904 })
        {
            await call.RequestStream.WriteAsync(new StreamingInputCallRequest { Payload = Zeros(size) });
        }

        await call.RequestStream.CompleteAsync();
        var response = await call;

        Assert.Equal(74922, response.AggregatedPayloadSize);
    }

    [Fact]
    public async Task PingPong_EachRequestAnsweredBeforeTheNextIsSent()
    {
        using var call = Client.FullDuplexCall(Options());
        foreach (var (size, body) in new[] { (31415, 27182), (9, 8), (2653, 1828), (58979, 45904) })
        {
            await call.RequestStream.WriteAsync(new StreamingOutputCallRequest { ResponseParameters = { new ResponseParameters { Size = size } }, Payload = Zeros(body) });
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), $"stream ended before the reply of size {size}");
            AssertZeros(call.ResponseStream.Current.Payload, size);
        }

        await call.RequestStream.CompleteAsync();

        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task EmptyStream_HalfCloseAtOnce_EndsOkWithoutMessages()
    {
        using var call = Client.FullDuplexCall(Options());
        await call.RequestStream.CompleteAsync();

        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Deadline_SleepingServer_DeadlineExceededWithinTheDeadline()
    {
        // Connect first, so the 300 ms are not spent on the connection.
        await AssertStillServingAsync();
        var watch = Stopwatch.StartNew();
        using var call = Client.FullDuplexCall(new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(300)));

        // The server never answers; the deadline may end the call during the write or the read.
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await call.RequestStream.WriteAsync(new StreamingOutputCallRequest { Payload = Zeros(27182) });
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        // The server never answers: without the deadline the call would never end, so the bound is loose on purpose.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"DEADLINE_EXCEEDED after {watch.ElapsedMilliseconds} ms with a 300 ms deadline");
        Assert.Equal(StatusCode.DeadlineExceeded, call.GetStatus().StatusCode);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task Deadline_OneMillisecond_DeadlineExceeded()
    {
        using var call = Client.FullDuplexCall(new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(1)));

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
    }

    [Fact]
    public async Task Deadline_SentAsGrpcTimeout()
    {
        await Client.EmptyCallAsync(new Empty(), new CallOptions(deadline: DateTime.UtcNow.AddSeconds(20)));

        var timeout = _handler.Last("/grpc.testing.TestService/EmptyCall").RequestHeaders["grpc-timeout"];
        Assert.InRange(ParseGrpcTimeout(timeout), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task CancelAfterBegin_Cancelled()
    {
        // Connect first, so the cancel meets a started call rather than a pending connection.
        await AssertStillServingAsync();
        using var cts = new CancellationTokenSource();
        using var call = Client.StreamingInputCall(Options(cancellationToken: cts.Token));

        // The interop spec's form: cancel at once. Not after awaiting ResponseHeadersAsync:
        // Grpc.Net.Client 2.85 then races its own response read against the cancel's dispose and
        // sometimes reports INTERNAL ("Error starting gRPC call. ObjectDisposedException").
        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.True(ex.StatusCode == StatusCode.Cancelled, ex.ToString());
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task CancelAfterFirstResponse_Cancelled()
    {
        using var cts = new CancellationTokenSource();
        using var call = Client.FullDuplexCall(Options(cancellationToken: cts.Token));
        await call.RequestStream.WriteAsync(new StreamingOutputCallRequest { ResponseParameters = { new ResponseParameters { Size = 31415 } }, Payload = Zeros(27182) });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        AssertZeros(call.ResponseStream.Current.Payload, 31415);

        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task MoveNextToken_CancelledWhileWaiting_Cancelled()
    {
        using var call = Client.FullDuplexCall(Options());
        await call.RequestStream.WriteAsync(new StreamingOutputCallRequest { Payload = Zeros(1) });
        using var cts = new CancellationTokenSource();
        var read = call.ResponseStream.MoveNext(cts.Token);
        Assert.False(read.IsCompleted);

        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => read);
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
    }

    [Fact]
    public async Task StatusCodeAndMessage_Unary_Echoed()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await Client.UnaryCallAsync(
            new SimpleRequest { ResponseStatus = new EchoStatus { Code = 2, Message = "test status message" } }, Options()));

        Assert.Equal(StatusCode.Unknown, ex.StatusCode);
        Assert.Equal("test status message", ex.Status.Detail);
    }

    [Fact]
    public async Task StatusCodeAndMessage_Duplex_Echoed()
    {
        using var call = Client.FullDuplexCall(Options());
        await call.RequestStream.WriteAsync(new StreamingOutputCallRequest { ResponseStatus = new EchoStatus { Code = 2, Message = "test status message" } });
        await call.RequestStream.CompleteAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Equal(StatusCode.Unknown, ex.StatusCode);
        Assert.Equal("test status message", ex.Status.Detail);
        Assert.Equal(ex.Status, call.GetStatus());
    }

    [Fact]
    public async Task SpecialStatusMessage_DecodedExactly()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await Client.UnaryCallAsync(
            new SimpleRequest { ResponseStatus = new EchoStatus { Code = 2, Message = SpecialMessage } }, Options()));

        Assert.Equal(StatusCode.Unknown, ex.StatusCode);
        Assert.Equal(SpecialMessage, ex.Status.Detail);
    }

    [Fact]
    public async Task CustomMetadata_Unary_EchoedInHeadersAndTrailers()
    {
        using var call = Client.UnaryCallAsync(LargeRequest(), Options(EchoMetadata()));

        var response = await call;
        var headers = await call.ResponseHeadersAsync;

        AssertZeros(response.Payload, 314159);
        Assert.Equal("test_initial_metadata_value", headers.GetValue(TestServiceImpl.EchoInitialKey));
        Assert.Equal(TrailingValue, call.GetTrailers().GetValueBytes(TestServiceImpl.EchoTrailingKey));
    }

    [Fact]
    public async Task CustomMetadata_Duplex_EchoedInHeadersAndTrailers()
    {
        using var call = Client.FullDuplexCall(Options(EchoMetadata()));
        await call.RequestStream.WriteAsync(new StreamingOutputCallRequest { ResponseParameters = { new ResponseParameters { Size = 314159 } }, Payload = Zeros(271828) });
        await call.RequestStream.CompleteAsync();

        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        AssertZeros(call.ResponseStream.Current.Payload, 314159);
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));

        Assert.Equal("test_initial_metadata_value", (await call.ResponseHeadersAsync).GetValue(TestServiceImpl.EchoInitialKey));
        Assert.Equal(TrailingValue, call.GetTrailers().GetValueBytes(TestServiceImpl.EchoTrailingKey));
    }

    [Fact]
    public async Task CustomMetadata_FailedCall_TrailersOnException()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await Client.UnaryCallAsync(
            new SimpleRequest { ResponseStatus = new EchoStatus { Code = 9, Message = "nope" } }, Options(EchoMetadata())));

        Assert.Equal(StatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Equal(TrailingValue, ex.Trailers.GetValueBytes(TestServiceImpl.EchoTrailingKey));
    }

    [Fact]
    public async Task ClientCompressedUnary_GzipRequest_ServerSeesCompressedFlag()
    {
        // Probe: the server must be able to tell, or the compressed call below proves nothing.
        var probe = await Assert.ThrowsAsync<RpcException>(async () => await Client.UnaryCallAsync(
            LargeRequest(expectCompressed: true), Options()));
        Assert.Equal(StatusCode.InvalidArgument, probe.StatusCode);

        var compressed = await Client.UnaryCallAsync(LargeRequest(expectCompressed: true), Options(compression: "gzip"));
        var plain = await Client.UnaryCallAsync(LargeRequest(expectCompressed: false), Options());

        AssertZeros(compressed.Payload, 314159);
        AssertZeros(plain.Payload, 314159);
    }

    [Fact]
    public async Task ClientCompressedStreaming_NoCompressFlag_SecondMessageSentPlain()
    {
        using var call = Client.StreamingInputCall(Options(compression: "gzip"));
        await call.RequestStream.WriteAsync(new StreamingInputCallRequest { ExpectCompressed = new BoolValue { Value = true }, Payload = Zeros(27182) });
        call.RequestStream.WriteOptions = new WriteOptions(WriteFlags.NoCompress);
        await call.RequestStream.WriteAsync(new StreamingInputCallRequest { ExpectCompressed = new BoolValue { Value = false }, Payload = Zeros(45904) });
        await call.RequestStream.CompleteAsync();

        var response = await call;

        Assert.Equal(73086, response.AggregatedPayloadSize);
    }

    [Fact]
    public async Task ServerCompressedUnary_GzipResponse_Decompressed()
    {
        var response = await Client.UnaryCallAsync(LargeRequest(responseCompressed: true), Options());

        AssertZeros(response.Payload, 314159);
        Assert.Equal("gzip", _handler.Last("/grpc.testing.TestService/UnaryCall").ResponseHeaders["grpc-encoding"]);
        Assert.Contains("gzip", _handler.Last("/grpc.testing.TestService/UnaryCall").RequestHeaders["grpc-accept-encoding"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerCompressedStreaming_MixedFlags_BothDecoded()
    {
        var request = new StreamingOutputCallRequest
        {
            ResponseParameters =
            {
                new ResponseParameters { Size = 31415, Compressed = new BoolValue { Value = true } },
                new ResponseParameters { Size = 92653, Compressed = new BoolValue { Value = false } },
            },
        };
        using var call = Client.StreamingOutputCall(request, Options());

        var sizes = new List<int>();
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            AssertZeros(response.Payload, response.Payload.Body.Length);
            sizes.Add(response.Payload.Body.Length);
        }

        Assert.Equal([31415, 92653], sizes);
        Assert.Equal("gzip", _handler.Last("/grpc.testing.TestService/StreamingOutputCall").ResponseHeaders["grpc-encoding"]);
    }

    [Fact]
    public async Task UnimplementedMethod_Unimplemented()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await Client.UnimplementedCallAsync(new Empty(), Options()));

        Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
    }

    [Fact]
    public async Task UnimplementedService_Unimplemented()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await new UnimplementedService.UnimplementedServiceClient(_channel.Value).UnimplementedCallAsync(new Empty(), Options()));

        Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
    }

    public void Dispose()
    {
        if (_channel.IsValueCreated)
        {
            _channel.Value.Dispose();
        }

        _handler.Dispose();
        GC.SuppressFinalize(this);
    }

    private async Task AssertStillServingAsync()
        => Assert.Equal(new Empty(), await Client.EmptyCallAsync(new Empty(), Options()));

    private static Metadata EchoMetadata() => new()
    {
        { TestServiceImpl.EchoInitialKey, "test_initial_metadata_value" },
        { TestServiceImpl.EchoTrailingKey, TrailingValue },
    };

    private static SimpleRequest LargeRequest(bool? expectCompressed = null, bool? responseCompressed = null)
    {
        var request = new SimpleRequest { ResponseSize = 314159, Payload = Zeros(271828) };
        if (expectCompressed is { } expect)
        {
            request.ExpectCompressed = new BoolValue { Value = expect };
        }

        if (responseCompressed is { } compress)
        {
            request.ResponseCompressed = new BoolValue { Value = compress };
        }

        return request;
    }

    /// <summary>PROTOCOL-HTTP2 "Timeout": at most 8 ASCII digits, then one of H M S m u n.</summary>
    private static TimeSpan ParseGrpcTimeout(string value)
    {
        Assert.InRange(value.Length, 2, 9);
        var amount = long.Parse(value.AsSpan(0, value.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture);
        return value[^1] switch
        {
            'H' => TimeSpan.FromHours(amount),
            'M' => TimeSpan.FromMinutes(amount),
            'S' => TimeSpan.FromSeconds(amount),
            'm' => TimeSpan.FromMilliseconds(amount),
            'u' => TimeSpan.FromMicroseconds(amount),
            'n' => TimeSpan.FromTicks(amount / 100),
            _ => throw new Xunit.Sdk.XunitException($"grpc-timeout '{value}' has no valid unit"),
        };
    }

    private static Payload Zeros(int size) => new() { Body = ByteString.CopyFrom(new byte[size]) };

    private static void AssertZeros(Payload payload, int size)
    {
        Assert.NotNull(payload);
        Assert.Equal(size, payload.Body.Length);
        Assert.True(payload.Body.Span.IndexOfAnyExcept((byte)0) < 0, "payload has non-zero bytes");
    }
}

/// <summary>Grpc.Net.Client against the grpc-js reference server (tests/interop/testservice-server.js).</summary>
public sealed class CSharpClientAgainstGrpcJsServerTests(GrpcJsServerFixture server) : CSharpClientInteropTests, IClassFixture<GrpcJsServerFixture>
{
    protected override Uri ServerAddress => server.Address;
}

/// <summary>Grpc.Net.Client against Grpc.AspNetCore with the gateway's settings, hosting the same TestService.</summary>
public sealed class CSharpClientAgainstOurServerTests(InteropServerFixture server) : CSharpClientInteropTests, IClassFixture<InteropServerFixture>
{
    protected override Uri ServerAddress => server.Server.Address;
}
