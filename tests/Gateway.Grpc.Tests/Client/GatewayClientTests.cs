using Gateway.Grpc.Client;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Client;
using Gateway.Grpc.Tests.TestInfrastructure;
using Gateway.V1;

namespace Gateway.Grpc.Tests.Client;

/// <summary>The typed clients of src/Clients/csharp against a fake gateway on our server.</summary>
public sealed class GatewayClientTests(FakeGatewayFixture fixture) : IClassFixture<FakeGatewayFixture>, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly GrpcChannel _channel = fixture.Server.CreateChannel();

    private static CompletionRequest Request(string model = "sim-small", string? user = null) => new()
    {
        Model = model,
        User = user ?? Guid.NewGuid().ToString("N"),
        Messages = { new Message { Role = Role.User, Content = "hi" } },
    };

    [Fact]
    public async Task CompleteAsync_ReturnsResponse()
    {
        var client = new CompletionClient(_channel);

        var response = await client.CompleteAsync(Request());

        Assert.Equal("sim-small", response.Model);
        Assert.Equal("echo: hi", response.Message.Content);
        Assert.Equal(FinishReason.Stop, response.FinishReason);
    }

    [Fact]
    public async Task CompleteAsync_ServerError_RpcExceptionWithStatusAndTrailers()
    {
        var client = new CompletionClient(_channel);

        var ex = await Assert.ThrowsAsync<RpcException>(() => client.CompleteAsync(Request("fail")));

        Assert.Equal(new Status(StatusCode.Unavailable, "upstream down"), ex.Status);
        Assert.Equal("unavailable", ex.Trailers.GetValue("x-error-kind"));
    }

    [Fact]
    public async Task CompleteAsync_ApiKeyOption_SendsBearerAuthorization()
    {
        var client = new CompletionClient(_channel, new GatewayClientOptions { ApiKey = "sk-test-123" });
        var request = Request();

        await client.CompleteAsync(request);

        Assert.Equal("Bearer sk-test-123", fixture.Seen[request.User].Headers.GetValue("authorization"));
    }

    [Fact]
    public async Task CompleteAsync_NoApiKey_NoAuthorization()
    {
        var request = Request();

        await new CompletionClient(_channel).CompleteAsync(request);

        Assert.Null(fixture.Seen[request.User].Headers.Get("authorization"));
    }

    [Fact]
    public async Task CompleteAsync_CallAuthorization_WinsOverApiKeyOption()
    {
        var client = new CompletionClient(_channel, new GatewayClientOptions { ApiKey = "sk-default" });
        var request = Request();

        await client.CompleteAsync(request, new CallOptions().WithApiKey("sk-per-call"));

        Assert.Equal(["Bearer sk-per-call"], fixture.Seen[request.User].Headers.GetAll("authorization").Select(e => e.Value));
    }

    [Fact]
    public async Task CompleteAsync_DefaultTimeout_SentAsDeadline()
    {
        var client = new CompletionClient(_channel, new GatewayClientOptions { DefaultTimeout = TimeSpan.FromSeconds(30) });
        var request = Request();
        var before = DateTime.UtcNow;

        await client.CompleteAsync(request);

        Assert.InRange(fixture.Seen[request.User].Deadline, before.AddSeconds(25), DateTime.UtcNow.AddSeconds(31));
    }

    [Fact]
    public async Task CompleteAsync_ExplicitDeadline_WinsOverDefaultTimeout()
    {
        var client = new CompletionClient(_channel, new GatewayClientOptions { DefaultTimeout = TimeSpan.FromSeconds(30) });
        var request = Request();
        var before = DateTime.UtcNow;

        await client.CompleteAsync(request, new CallOptions().WithTimeout(TimeSpan.FromSeconds(120)));

        Assert.InRange(fixture.Seen[request.User].Deadline, before.AddSeconds(110), DateTime.UtcNow.AddSeconds(121));
    }

    [Fact]
    public void WithApiKey_CopiesMetadata_CallersMetadataUnchanged()
    {
        var headers = new Metadata { { "x-team", "search" }, { "authorization", "Bearer old" } };

        var options = new CallOptions(headers).WithApiKey(" sk-new ");

        Assert.Equal(2, headers.Count);
        Assert.Equal("Bearer old", headers.GetValue("authorization"));
        Assert.Equal("search", options.Headers!.GetValue("x-team"));
        Assert.Equal(["Bearer sk-new"], options.Headers.GetAll("authorization").Select(e => e.Value));
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void WithApiKey_Blank_Throws(string key)
        => Assert.ThrowsAny<ArgumentException>(() => new CallOptions().WithApiKey(key));

    [Fact]
    public async Task StreamComplete_YieldsEventsInOrder()
    {
        var client = new CompletionClient(_channel);
        var cases = new List<CompletionChunk.EventOneofCase>();
        var text = "";

        await foreach (var chunk in client.StreamComplete(Request()))
        {
            cases.Add(chunk.EventCase);
            text += chunk.Delta?.Text;
        }

        Assert.Equal(
            [CompletionChunk.EventOneofCase.Start, CompletionChunk.EventOneofCase.Delta, CompletionChunk.EventOneofCase.Delta, CompletionChunk.EventOneofCase.Usage, CompletionChunk.EventOneofCase.Finish],
            cases);
        Assert.Equal("Hello", text);
    }

    [Fact]
    public async Task StreamComplete_ApiKeyOption_SendsBearerAuthorization()
    {
        var client = new CompletionClient(_channel, new GatewayClientOptions { ApiKey = "sk-stream" });
        var request = Request();

        await foreach (var _ in client.StreamComplete(request))
        {
        }

        Assert.Equal("Bearer sk-stream", fixture.Seen[request.User].Headers.GetValue("authorization"));
    }

    [Fact]
    public async Task StreamComplete_ServerFailsMidStream_EventsThenRpcExceptionWithTrailers()
    {
        var client = new CompletionClient(_channel);
        var received = new List<CompletionChunk>();

        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var chunk in client.StreamComplete(Request("fail")))
            {
                received.Add(chunk);
            }
        });

        Assert.Equal(new Status(StatusCode.Unavailable, "upstream down"), ex.Status);
        Assert.Equal("stream_interrupted", ex.Trailers.GetValue("x-error-kind"));
        Assert.Equal(
            [CompletionChunk.EventOneofCase.Start, CompletionChunk.EventOneofCase.Delta, CompletionChunk.EventOneofCase.Error],
            received.Select(c => c.EventCase));
    }

    [Fact]
    public async Task StreamComplete_TokenCancelled_ServerCallCancelled()
    {
        var client = new CompletionClient(_channel);
        var request = Request("hang");
        var probe = fixture.Probes[request.User] = new ProbeCall();
        using var cts = new CancellationTokenSource();
        await using var enumerator = client.StreamComplete(request, cancellationToken: cts.Token).GetAsyncEnumerator();
        Assert.True(await enumerator.MoveNextAsync());
        Assert.Equal(CompletionChunk.EventOneofCase.Start, enumerator.Current.EventCase);
        await probe.Started.Task.WaitAsync(Wait);
        var next = enumerator.MoveNextAsync().AsTask();
        Assert.False(next.IsCompleted);

        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => next);
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await probe.HandlerCancelled.Task.WaitAsync(Wait);
    }

    [Fact]
    public async Task StreamComplete_LoopLeftEarly_ServerCallCancelled()
    {
        var client = new CompletionClient(_channel);
        var request = Request("hang");
        var probe = fixture.Probes[request.User] = new ProbeCall();

        await foreach (var chunk in client.StreamComplete(request))
        {
            Assert.Equal(CompletionChunk.EventOneofCase.Start, chunk.EventCase);
            await probe.Started.Task.WaitAsync(Wait);
            break;
        }

        await probe.HandlerCancelled.Task.WaitAsync(Wait);
    }

    [Fact]
    public async Task StreamComplete_CallOptionsDeadline_DeadlineExceeded()
    {
        var client = new CompletionClient(_channel);
        var request = Request("hang");
        fixture.Probes[request.User] = new ProbeCall();

        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in client.StreamComplete(request, new CallOptions().WithTimeout(TimeSpan.FromMilliseconds(500))))
            {
            }
        });

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
    }

    [Fact]
    public async Task StreamCompleteCall_ExposesHeadersStatusAndTrailers()
    {
        var client = new CompletionClient(_channel);
        var request = Request();
        using var call = client.StreamCompleteCall(request);

        var headers = await call.ResponseHeadersAsync;
        var count = 0;
        await foreach (var _ in call.ResponseStream.ReadAllAsync())
        {
            count++;
        }

        Assert.Equal("cmpl-" + request.User, headers.GetValue("x-request-id"));
        Assert.Equal(5, count);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("2", call.GetTrailers().GetValue("x-output-tokens"));
    }

    [Fact]
    public async Task ListModelsAsync_ReturnsModels()
    {
        var client = new ModelsClient(_channel);

        var response = await client.ListModelsAsync();

        Assert.Equal(["sim-small", "sim-large"], response.Models.Select(m => m.Id));
    }

    [Theory]
    [InlineData("")]
    [InlineData("gateway.v1.Completion")]
    public async Task HealthCheck_KnownService_Serving(string service)
    {
        var client = new HealthClient(_channel);

        Assert.Equal(HealthStatus.Serving, await client.CheckAsync(service));
    }

    [Fact]
    public async Task HealthCheck_UnknownService_NotFound()
    {
        var client = new HealthClient(_channel);

        var ex = await Assert.ThrowsAsync<RpcException>(() => client.CheckAsync("no.such.Service"));

        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
    }

    [Theory]
    [InlineData("gateway.v1.Models", HealthStatus.Serving)]
    [InlineData("no.such.Service", HealthStatus.ServiceUnknown)]
    public async Task HealthWatch_FirstMessageIsCurrentStatus(string service, HealthStatus expected)
    {
        var client = new HealthClient(_channel);
        using var cts = new CancellationTokenSource(Wait);

        await foreach (var status in client.Watch(service, cancellationToken: cts.Token))
        {
            Assert.Equal(expected, status);
            return;
        }

        Assert.Fail("Watch ended without a status.");
    }

    [Fact]
    public async Task GatewayClient_Create_AllClientsShareTheChannel()
    {
        using var client = GatewayClient.Create(fixture.Server.Address.ToString(), new GatewayClientOptions { ApiKey = "sk-facade" });
        var request = Request();

        var response = await client.Completion.CompleteAsync(request);
        var models = await client.Models.ListModelsAsync();
        var health = await client.Health.CheckAsync();

        Assert.Equal("echo: hi", response.Message.Content);
        Assert.Equal(2, models.Models.Count);
        Assert.Equal(HealthStatus.Serving, health);
        Assert.Equal("Bearer sk-facade", fixture.Seen[request.User].Headers.GetValue("authorization"));
    }

    public void Dispose() => _channel.Dispose();
}
