using System.Net;
using Gateway.Grpc.Tests.Interop;
using Gateway.Grpc.Tests.TestInfrastructure;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Testing;

namespace Gateway.Grpc.Tests.Protocol;

/// <summary>
/// Grpc.AspNetCore with the gateway's server settings (<see cref="GrpcTestServer"/>), driven with
/// hand-made HTTP requests: the response shapes of GRPC-PROTOCOL.md sections 1-3 as they appear
/// on the wire, and what a gateway user gets for malformed input (bad content-type or framing,
/// oversized messages, unknown methods, bad grpc-timeout): a status, never a crash or a hang.
/// The statuses asserted are the ones grpc-dotnet was observed to send.
/// </summary>
public sealed class ServerWireTests(InteropServerFixture fixture) : IClassFixture<InteropServerFixture>, IDisposable
{
    private const string UnaryPath = "/grpc.testing.TestService/UnaryCall";
    private readonly HttpClient _client = GrpcTestServer.CreateH2cHttpClient();

    private Uri Address => fixture.Server.Address;

    private static byte[] SmallRequest(int responseSize = 3) => new SimpleRequest { ResponseSize = responseSize }.ToByteArray();

    [Fact]
    public async Task UnaryCall_Ok_HeadersMessageThenTrailersWithStatusZero()
    {
        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(0, SmallRequest(3)));

        Assert.Equal(HttpStatusCode.OK, response.HttpStatus);
        Assert.Equal("application/grpc", response.Headers["content-type"]);
        Assert.False(response.Headers.ContainsKey("content-length"), response.ToString());
        Assert.False(response.Headers.ContainsKey("grpc-status"), "grpc-status belongs in the trailers of a call that sent a message");
        Assert.Equal("0", response.Trailers["grpc-status"]);
        var expected = RawGrpc.Frame(0, new SimpleResponse { Payload = new Payload { Body = ByteString.CopyFrom(new byte[3]) } }.ToByteArray());
        Assert.Equal(expected, response.Body);
    }

    [Fact]
    public async Task ErrorBeforeAnyMessage_TrailersOnly()
    {
        var request = new SimpleRequest { ResponseStatus = new EchoStatus { Code = 9, Message = "nope" } }.ToByteArray();

        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(0, request));

        Assert.Equal(HttpStatusCode.OK, response.HttpStatus);
        Assert.Equal("9", response.Headers["grpc-status"]);
        Assert.Equal("nope", response.Headers["grpc-message"]);
        Assert.Equal("application/grpc", response.Headers["content-type"]);
        Assert.Empty(response.Trailers);
        Assert.Empty(response.Body);
    }

    [Fact]
    public async Task StatusMessage_SpecialCharacters_PercentEncodedOnTheWire()
    {
        var request = new SimpleRequest { ResponseStatus = new EchoStatus { Code = 2, Message = "\t\ntest \u263A 100%" } }.ToByteArray();

        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(0, request));

        AssertStatus(StatusCode.Unknown, response);
        Assert.Equal("%09%0Atest %E2%98%BA 100%25", response.GrpcMessage);
    }

    [Fact]
    public async Task InvalidCompressedFlag_UnknownWithoutDetailAndServerStillServes()
    {
        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(2, SmallRequest()));

        // Our old layer said INTERNAL; grpc-dotnet fails the read of the message inside the call
        // and reports it as a handler exception, UNKNOWN with its generic message (detailed
        // errors are off, as in the gateway).
        Assert.Equal(HttpStatusCode.OK, response.HttpStatus);
        AssertStatus(StatusCode.Unknown, response);
        Assert.Equal("Exception was thrown by handler.", response.GrpcMessage);
        AssertStatus(StatusCode.OK, await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(0, SmallRequest())));
    }

    [Fact]
    public async Task TruncatedMessage_Internal()
    {
        var framed = RawGrpc.Frame(0, SmallRequest());

        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, framed[..^2]);

        AssertStatus(StatusCode.Internal, response);
        Assert.Contains("Incomplete", response.GrpcMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TruncatedPrefix_Internal()
    {
        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, [0, 0, 0]);

        AssertStatus(StatusCode.Internal, response);
    }

    [Fact]
    public async Task StreamingCall_TruncatedLastMessage_Internal()
    {
        var message = new StreamingInputCallRequest { Payload = new Payload { Body = ByteString.CopyFrom(new byte[10]) } }.ToByteArray();
        byte[] body = [.. RawGrpc.Frame(0, message), .. RawGrpc.Frame(0, message)[..^1]];

        var response = await RawGrpc.SendAsync(_client, Address, "/grpc.testing.TestService/StreamingInputCall", body);

        AssertStatus(StatusCode.Internal, response);
    }

    [Fact]
    public async Task CompressedFlagWithoutGrpcEncoding_Internal()
    {
        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(1, SmallRequest()));

        AssertStatus(StatusCode.Internal, response);
    }

    [Fact]
    public async Task CompressedFlagWithIdentityEncoding_Internal()
    {
        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(1, SmallRequest()), headers: [new("grpc-encoding", "identity")]);

        AssertStatus(StatusCode.Internal, response);
    }

    [Fact]
    public async Task UnsupportedGrpcEncoding_UnimplementedListingSupported()
    {
        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(1, SmallRequest()), headers: [new("grpc-encoding", "br")]);

        AssertStatus(StatusCode.Unimplemented, response);
        Assert.Contains("gzip", response.Headers["grpc-accept-encoding"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnaryCall_TwoMessages_Internal()
    {
        byte[] body = [.. RawGrpc.Frame(0, SmallRequest()), .. RawGrpc.Frame(0, SmallRequest())];

        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, body);

        AssertStatus(StatusCode.Internal, response);
    }

    [Fact]
    public async Task UnaryCall_NoMessage_Internal()
    {
        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, []);

        AssertStatus(StatusCode.Internal, response);
    }

    [Fact]
    public async Task MessageOverMaxReceiveMessageSize_ResourceExhausted()
    {
        // Only the length prefix counts: the server must refuse before buffering the body.
        var request = new SimpleRequest { Payload = new Payload { Body = ByteString.CopyFrom(new byte[GrpcTestServer.MaxReceiveMessageSize]) } }.ToByteArray();

        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(0, request));

        Assert.Equal(HttpStatusCode.OK, response.HttpStatus);
        AssertStatus(StatusCode.ResourceExhausted, response);
        Assert.Empty(response.Body);
    }

    [Fact]
    public async Task MessageAtMaxReceiveMessageSize_Accepted()
    {
        // The limit is inclusive: a message of exactly maxReceiveMessageSize bytes is served.
        var request = new SimpleRequest { ResponseSize = 1, Payload = new Payload { Body = ByteString.CopyFrom(new byte[GrpcTestServer.MaxReceiveMessageSize - 16]) } };
        var padding = GrpcTestServer.MaxReceiveMessageSize - request.CalculateSize();
        request.Payload.Body = ByteString.CopyFrom(new byte[request.Payload.Body.Length + padding]);
        Assert.Equal(GrpcTestServer.MaxReceiveMessageSize, request.CalculateSize());

        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(0, request.ToByteArray()));

        AssertStatus(StatusCode.OK, response);
    }

    [Fact]
    public async Task WrongContentType_415WithGrpcStatusInternal()
    {
        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(0, SmallRequest()), contentType: "application/json");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.HttpStatus);
        Assert.Equal("13", response.Headers["grpc-status"]);
    }

    [Fact]
    public async Task GrpcWebContentType_NotTakenForGrpc()
    {
        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(0, SmallRequest()), contentType: "application/grpc-web");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.HttpStatus);
    }

    [Fact]
    public async Task Http11Request_426()
    {
        using var http1 = new HttpClient(new SocketsHttpHandler { UseProxy = false });

        var response = await RawGrpc.SendAsync(http1, fixture.Server.Http1Address, UnaryPath, RawGrpc.Frame(0, SmallRequest()), version: HttpVersion.Version11);

        Assert.Equal(HttpStatusCode.UpgradeRequired, response.HttpStatus);
        Assert.Equal("13", response.Headers["grpc-status"]);
    }

    [Theory]
    [InlineData("/grpc.testing.TestService/NoSuchMethod", "Method")]
    [InlineData("/grpc.testing.NoSuchService/UnaryCall", "Service")]
    public async Task UnknownMethodOrService_TrailersOnlyUnimplemented(string path, string what)
    {
        var response = await RawGrpc.SendAsync(_client, Address, path, RawGrpc.Frame(0, []));

        Assert.Equal(HttpStatusCode.OK, response.HttpStatus);
        Assert.Equal("12", response.Headers["grpc-status"]);
        Assert.Equal("application/grpc", response.Headers["content-type"]);
        Assert.StartsWith(what, response.Headers["grpc-message"], StringComparison.Ordinal);
        Assert.Empty(response.Body);
    }

    [Fact]
    public async Task PathNotServiceSlashMethod_Http404()
    {
        // Not a gRPC method path, so no gRPC endpoint answers: ASP.NET Core routing's plain 404
        // (our old layer said UNIMPLEMENTED). Clients map HTTP 404 to UNIMPLEMENTED
        // (doc/http-grpc-status-mapping.md), so callers see the same status.
        var response = await RawGrpc.SendAsync(_client, Address, "/not-even-a-path", RawGrpc.Frame(0, []));

        Assert.Equal(HttpStatusCode.NotFound, response.HttpStatus);
        Assert.Null(response.GrpcStatus);
    }

    [Fact]
    public async Task GrpcTimeout_ServerDeadline_StatusFourAndHandlerCancelled()
    {
        // No client-side timer here: the status can only come from the server's deadline.
        var (probe, metadata) = fixture.Probe.Expect();

        var response = await RawGrpc.SendAsync(_client, Address, "/test.Probe/Hang", RawGrpc.Frame(0, []),
            headers: [new("grpc-timeout", "200m"), new(ProbeService.IdKey, metadata.GetValue(ProbeService.IdKey)!)]);

        AssertStatus(StatusCode.DeadlineExceeded, response);
        Assert.True(probe.Started.Task.IsCompleted);
        await probe.HandlerCancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task GrpcTimeout_SetsContextDeadline()
    {
        var (probe, metadata) = fixture.Probe.Expect();
        var before = DateTime.UtcNow;

        var call = RawGrpc.SendAsync(_client, Address, "/test.Probe/Hang", RawGrpc.Frame(0, []),
            headers: [new("grpc-timeout", "1S"), new(ProbeService.IdKey, metadata.GetValue(ProbeService.IdKey)!)]);
        var context = await probe.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.InRange(context.Deadline, before.AddMilliseconds(500), DateTime.UtcNow.AddSeconds(1));
        Assert.Equal(DateTimeKind.Utc, context.Deadline.Kind);
        AssertStatus(StatusCode.DeadlineExceeded, await call);
    }

    [Theory]
    [InlineData("1s")]
    [InlineData("garbage")]
    [InlineData("123456789S")]
    public async Task InvalidGrpcTimeout_IgnoredAndCallSucceeds(string timeout)
    {
        var response = await RawGrpc.SendAsync(_client, Address, UnaryPath, RawGrpc.Frame(0, SmallRequest()), headers: [new("grpc-timeout", timeout)]);

        AssertStatus(StatusCode.OK, response);
    }

    [Fact]
    public async Task RequestMetadata_TransportHeadersHidden_BinaryDecoded()
    {
        var (probe, metadata) = fixture.Probe.Expect();

        var call = RawGrpc.SendAsync(_client, Address, "/test.Probe/Hang", RawGrpc.Frame(0, []), headers:
        [
            new(ProbeService.IdKey, metadata.GetValue(ProbeService.IdKey)!),
            new("grpc-timeout", "5S"),
            new("x-text", "hello"),
            new("x-data-bin", "AQI"),
            new("x-padded-bin", "AQI="),
        ]);
        var context = await probe.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var keys = context.RequestHeaders.Select(e => e.Key).ToArray();

        Assert.Equal("hello", context.RequestHeaders.GetValue("x-text"));
        Assert.Equal(new byte[] { 1, 2 }, context.RequestHeaders.GetValueBytes("x-data-bin"));
        Assert.Equal(new byte[] { 1, 2 }, context.RequestHeaders.GetValueBytes("x-padded-bin"));
        foreach (var hidden in new[] { "content-type", "te", "grpc-timeout", "host" })
        {
            Assert.DoesNotContain(hidden, keys);
        }

        Assert.DoesNotContain(keys, k => k.StartsWith(':'));
        await call;
    }

    public void Dispose() => _client.Dispose();

    private static void AssertStatus(StatusCode expected, RawResponse response)
        => Assert.True(response.GrpcStatus == (int)expected, $"expected grpc-status {(int)expected} ({expected}), got {response}");
}
