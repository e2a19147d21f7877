using System.Diagnostics;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Client;
using Gateway.Grpc.Protocol.Server;
using Gateway.Grpc.Tests.Interop;
using Gateway.Grpc.Tests.TestInfrastructure;
using Google.Protobuf;
using Grpc.Testing;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Tests.Client;

/// <summary>Our client against our server: limits, deadlines and cancellation end to end.</summary>
public sealed class ClientServerTests(InteropServerFixture fixture) : IClassFixture<InteropServerFixture>, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly GrpcChannel _channel = fixture.Server.CreateChannel();

    private static CallOptions Options(Metadata? headers = null, CancellationToken cancellationToken = default)
        => new(headers, DateTime.UtcNow.AddSeconds(15), cancellationToken);

    [Fact]
    public async Task Request5MB_ResourceExhausted_ServerKeepsServing()
    {
        var request = new SimpleRequest { ResponseSize = 1, Payload = new Payload { Body = ByteString.CopyFrom(new byte[5 * 1024 * 1024]) } };

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await _channel.AsyncUnaryCall(TestServiceMethods.UnaryCall, request, Options()));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Contains("4194304", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(new Empty(), await _channel.AsyncUnaryCall(TestServiceMethods.EmptyCall, new Empty(), Options()));
        using var other = fixture.Server.CreateChannel();
        Assert.Equal(new Empty(), await other.AsyncUnaryCall(TestServiceMethods.EmptyCall, new Empty(), Options()));
    }

    [Fact]
    public async Task Response5MB_ClientReceiveLimit_ResourceExhausted()
    {
        var request = new SimpleRequest { ResponseSize = 5 * 1024 * 1024 };

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await _channel.AsyncUnaryCall(TestServiceMethods.UnaryCall, request, Options()));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Equal(new Empty(), await _channel.AsyncUnaryCall(TestServiceMethods.EmptyCall, new Empty(), Options()));
    }

    [Fact]
    public async Task Response5MB_ClientLimitRaised_Received()
    {
        using var channel = fixture.Server.CreateChannel(new GrpcChannelOptions { MaxReceiveMessageSize = 8 * 1024 * 1024 });

        var response = await channel.AsyncUnaryCall(TestServiceMethods.UnaryCall, new SimpleRequest { ResponseSize = 5 * 1024 * 1024 }, Options());

        Assert.Equal(5 * 1024 * 1024, response.Payload.Body.Length);
    }

    [Fact]
    public async Task SendLimit_OverLimit_ResourceExhaustedWithoutSending()
    {
        using var channel = fixture.Server.CreateChannel(new GrpcChannelOptions { MaxSendMessageSize = 1000 });
        var request = new SimpleRequest { Payload = new Payload { Body = ByteString.CopyFrom(new byte[2000]) } };

        var ex = Assert.Throws<RpcException>(() => channel.AsyncUnaryCall(TestServiceMethods.UnaryCall, request, Options()));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Fact]
    public async Task UnknownMethod_Unimplemented()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await _channel.AsyncUnaryCall(TestServiceMethods.UnimplementedCall, new Empty(), Options()));

        Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
        Assert.Contains("/grpc.testing.TestService/UnimplementedCall", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownService_Unimplemented()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await _channel.AsyncUnaryCall(TestServiceMethods.UnimplementedServiceCall, new Empty(), Options()));

        Assert.Equal(StatusCode.Unimplemented, ex.StatusCode);
        Assert.Contains("grpc.testing.UnimplementedService", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deadline_ServerCancelsHandlerToken_ClientDeadlineExceeded()
    {
        var (probe, headers) = fixture.Probe.Expect();
        // Connected and warmed up first, so the request surely reaches the handler in time.
        await _channel.AsyncUnaryCall(TestServiceMethods.EmptyCall, new Empty(), Options());
        var watch = Stopwatch.StartNew();

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await _channel.AsyncUnaryCall(
            ProbeService.Hang, new Empty(), new CallOptions(headers, DateTime.UtcNow.AddMilliseconds(500))));

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.ElapsedMilliseconds} ms");
        var context = await probe.Started.Task.WaitAsync(Wait);
        Assert.NotEqual(DateTime.MaxValue, context.Deadline);
        await probe.HandlerCancelled.Task.WaitAsync(Wait);
        await probe.HandlerExited.Task.WaitAsync(Wait);
    }

    [Fact]
    public async Task Deadline_AlreadyPassed_FailsWithoutReachingTheServer()
    {
        var (probe, headers) = fixture.Probe.Expect();

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await _channel.AsyncUnaryCall(
            ProbeService.Hang, new Empty(), new CallOptions(headers, DateTime.UtcNow.AddSeconds(-1))));

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        // A call that the server did not see cannot have started its handler; prove the
        // channel works and the probe is still untouched afterwards.
        Assert.Equal(new Empty(), await _channel.AsyncUnaryCall(TestServiceMethods.EmptyCall, new Empty(), Options()));
        Assert.False(probe.Started.Task.IsCompleted);
    }

    [Fact]
    public async Task Deadline_FarFuture_CallSucceeds()
    {
        var response = await _channel.AsyncUnaryCall(TestServiceMethods.EmptyCall, new Empty(), new CallOptions(Deadline: DateTime.UtcNow.AddDays(400)));

        Assert.Equal(new Empty(), response);
    }

    [Fact]
    public async Task ClientCancel_HandlerTokenCancelled_LoggedAtDebugNotError()
    {
        // A server of its own, so that its log holds this call only.
        var probeService = new ProbeService();
        await using var server = await GrpcTestServer.StartAsync(app => app.MapGrpcService(probeService.CreateDefinition()));
        using var channel = server.CreateChannel();
        var (probe, headers) = probeService.Expect();
        using var cts = new CancellationTokenSource();
        using var call = channel.AsyncUnaryCall(ProbeService.Hang, new Empty(), Options(headers, cts.Token));
        await probe.Started.Task.WaitAsync(Wait);

        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await probe.HandlerCancelled.Task.WaitAsync(Wait);
        var logged = await server.Logs.WaitForAsync(e => e.EventId.Name == "CallCancelled", Wait);
        Assert.Equal(LogLevel.Debug, logged.Level);
        Assert.Contains(ProbeService.Hang.FullName, logged.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(server.Logs.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task DisposeCall_MidStream_HandlerTokenCancelled()
    {
        var (probe, headers) = fixture.Probe.Expect();
        var call = _channel.AsyncServerStreamingCall(ProbeService.HangAfterFirst, new Empty(), Options(headers));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        await probe.Started.Task.WaitAsync(Wait);

        call.Dispose();

        await probe.HandlerCancelled.Task.WaitAsync(Wait);
        Assert.Equal(StatusCode.Cancelled, call.GetStatus().StatusCode);
        Assert.Equal(new Empty(), await _channel.AsyncUnaryCall(TestServiceMethods.EmptyCall, new Empty(), Options()));
    }

    [Fact]
    public async Task MoveNextToken_Cancelled_HandlerTokenCancelled()
    {
        var (probe, headers) = fixture.Probe.Expect();
        using var call = _channel.AsyncServerStreamingCall(ProbeService.HangAfterFirst, new Empty(), Options(headers));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        await probe.Started.Task.WaitAsync(Wait);
        using var cts = new CancellationTokenSource();
        var next = call.ResponseStream.MoveNext(cts.Token);

        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => next);
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await probe.HandlerCancelled.Task.WaitAsync(Wait);
    }

    [Fact]
    public async Task TrailersOnlyError_StatusAndTrailersAvailable()
    {
        var headers = new Metadata { { TestServiceImpl.EchoTrailingKey, new byte[] { 7 } } };
        using var call = _channel.AsyncUnaryCall(TestServiceMethods.UnaryCall, new SimpleRequest { ResponseStatus = new EchoStatus { Code = 5, Message = "gone" } }, Options(headers));

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);

        Assert.Equal(new Status(StatusCode.NotFound, "gone"), ex.Status);
        Assert.Equal(new byte[] { 7 }, ex.Trailers.GetValueBytes(TestServiceImpl.EchoTrailingKey));
        Assert.Equal(ex.Status, call.GetStatus());
        Assert.Equal(new byte[] { 7 }, call.GetTrailers().GetValueBytes(TestServiceImpl.EchoTrailingKey));
    }

    [Fact]
    public async Task HalfDuplex_AnswersAfterHalfClose()
    {
        using var call = _channel.AsyncDuplexStreamingCall(TestServiceMethods.HalfDuplexCall, Options());
        await call.RequestStream.WriteAsync(new StreamingOutputCallRequest { ResponseParameters = { new ResponseParameters { Size = 3 } } });
        await call.RequestStream.WriteAsync(new StreamingOutputCallRequest { ResponseParameters = { new ResponseParameters { Size = 5 } } });
        var first = call.ResponseStream.MoveNext(CancellationToken.None);
        Assert.False(first.IsCompleted);

        await call.RequestStream.CompleteAsync();

        Assert.True(await first);
        Assert.Equal(3, call.ResponseStream.Current.Payload.Body.Length);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(5, call.ResponseStream.Current.Payload.Body.Length);
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None));
    }

    [Fact]
    public async Task ConcurrentCalls_OneChannel_AllSucceed()
    {
        var calls = Enumerable.Range(1, 50).Select(async i =>
            (await _channel.AsyncUnaryCall(TestServiceMethods.UnaryCall, new SimpleRequest { ResponseSize = i }, Options())).Payload.Body.Length);

        var sizes = await Task.WhenAll(calls);

        Assert.Equal(Enumerable.Range(1, 50), sizes);
    }

    [Fact]
    public async Task HandlerThrows_UnknownWithoutExceptionDetail_LoggedAsError()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await _channel.AsyncUnaryCall(ProbeService.Throw, new Empty(), Options()));

        Assert.Equal(StatusCode.Unknown, ex.StatusCode);
        Assert.DoesNotContain("hunter2", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(fixture.Server.Logs.Entries, e => e.Level == LogLevel.Error && e.Exception?.Message == ProbeService.SecretDetail);
    }

    [Theory]
    [InlineData(400, StatusCode.Internal)]
    [InlineData(401, StatusCode.Unauthenticated)]
    [InlineData(403, StatusCode.PermissionDenied)]
    [InlineData(404, StatusCode.Unimplemented)]
    [InlineData(429, StatusCode.Unavailable)]
    [InlineData(502, StatusCode.Unavailable)]
    [InlineData(503, StatusCode.Unavailable)]
    [InlineData(504, StatusCode.Unavailable)]
    [InlineData(500, StatusCode.Unknown)]
    [InlineData(200, StatusCode.Internal)]
    public async Task NonGrpcHttpResponse_MappedToStatus(int httpStatus, StatusCode expected)
    {
        var method = new Method<Empty, Empty>(MethodType.Unary, "test.Http", httpStatus.ToString(System.Globalization.CultureInfo.InvariantCulture), TestServiceMethods.EmptyCall.RequestMarshaller, TestServiceMethods.EmptyCall.ResponseMarshaller);

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await _channel.AsyncUnaryCall(method, new Empty(), Options()));

        Assert.Equal(expected, ex.StatusCode);
    }

    [Fact]
    public async Task NothingListening_Unavailable()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await channel.AsyncUnaryCall(TestServiceMethods.EmptyCall, new Empty(), Options()));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
    }

    [Fact]
    public async Task ReservedKeysInCallMetadata_NotSent()
    {
        using var handler = new RecordingHttpHandler();
        using var channel = fixture.Server.CreateChannel(new GrpcChannelOptions { HttpHandler = handler });
        var headers = new Metadata { { "content-type", "application/json" }, { "grpc-timeout", "1n" }, { "te", "gzip" }, { "x-kept", "yes" } };

        var response = await channel.AsyncUnaryCall(TestServiceMethods.EmptyCall, new Empty(), new CallOptions(headers));

        Assert.Equal(new Empty(), response);
        var sent = handler.Last(TestServiceMethods.EmptyCall.FullName).RequestHeaders;
        Assert.Equal("application/grpc", sent["content-type"]);
        Assert.Equal("trailers", sent["te"]);
        Assert.False(sent.ContainsKey("grpc-timeout"));
        Assert.Equal("yes", sent["x-kept"]);
    }

    public void Dispose() => _channel.Dispose();
}
