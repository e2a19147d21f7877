using Gateway.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gateway.Grpc.Client.Tests;

/// <summary>The generated clients as AddGatewayClients registers them, and our helpers, against a fake gateway on grpc-dotnet.</summary>
public sealed class GatewayClientTests(FakeGateway gateway) : IClassFixture<FakeGateway>, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly List<ServiceProvider> _providers = [];

    private static CompletionRequest Request(string model = "sim-small") => new()
    {
        Model = model,
        User = Guid.NewGuid().ToString("N"),
        Messages = { new Message { Role = Role.User, Content = "hi" } },
    };

    private ServiceProvider CreateServices(Action<GatewayClientOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddGatewayClients(o =>
        {
            o.Address = gateway.Address;
            configure?.Invoke(o);
        });
        var provider = services.BuildServiceProvider();
        _providers.Add(provider);
        return provider;
    }

    private Completion.CompletionClient CreateCompletion(Action<GatewayClientOptions>? configure = null)
        => CreateServices(configure).GetRequiredService<Completion.CompletionClient>();

    public void Dispose()
    {
        foreach (var provider in _providers)
        {
            provider.Dispose();
        }
    }

    [Fact]
    public async Task AddGatewayClients_Complete_ReturnsResponse()
    {
        var response = await CreateCompletion().CompleteAsync(Request());

        Assert.Equal(("sim-small", "echo: hi", FinishReason.Stop), (response.Model, response.Message.Content, response.FinishReason));
    }

    [Fact]
    public async Task AddGatewayClients_ApiKey_SentAsBearerAuthorization()
    {
        var request = Request();

        await CreateCompletion(o => o.ApiKey = " sk-test-123 ").CompleteAsync(request);

        Assert.Equal(["Bearer sk-test-123"], gateway.Seen[request.User].Headers.GetAll("authorization").Select(e => e.Value));
    }

    [Fact]
    public async Task AddGatewayClients_NoApiKey_NoAuthorization()
    {
        var request = Request();

        await CreateCompletion().CompleteAsync(request);

        Assert.Null(gateway.Seen[request.User].Headers.Get("authorization"));
    }

    [Fact]
    public async Task CallAuthorization_WinsOverApiKeyOption_CallersMetadataUnchanged()
    {
        var request = Request();
        var headers = new Metadata { { "authorization", "Bearer sk-per-call" }, { "x-team", "search" } };

        await CreateCompletion(o => o.ApiKey = "sk-default").CompleteAsync(request, headers);

        Assert.Equal(["Bearer sk-per-call"], gateway.Seen[request.User].Headers.GetAll("authorization").Select(e => e.Value));
        Assert.Equal("search", gateway.Seen[request.User].Headers.GetValue("x-team"));
        Assert.Equal(2, headers.Count);
    }

    [Fact]
    public async Task StreamComplete_ApiKey_SentAsBearerAuthorization()
    {
        var request = Request();

        await foreach (var _ in CreateCompletion(o => o.ApiKey = "sk-stream").StreamEventsAsync(request))
        {
        }

        Assert.Equal("Bearer sk-stream", gateway.Seen[request.User].Headers.GetValue("authorization"));
    }

    [Fact]
    public async Task DefaultTimeout_SentAsDeadline()
    {
        var request = Request();
        var before = DateTime.UtcNow;

        await CreateCompletion(o => o.DefaultTimeout = TimeSpan.FromSeconds(30)).CompleteAsync(request);

        Assert.InRange(gateway.Seen[request.User].Deadline, before.AddSeconds(25), DateTime.UtcNow.AddSeconds(31));
    }

    [Fact]
    public async Task ExplicitDeadline_WinsOverDefaultTimeout()
    {
        var request = Request();
        var before = DateTime.UtcNow;

        await CreateCompletion(o => o.DefaultTimeout = TimeSpan.FromSeconds(30)).CompleteAsync(request, deadline: DateTime.UtcNow.AddSeconds(120));

        Assert.InRange(gateway.Seen[request.User].Deadline, before.AddSeconds(110), DateTime.UtcNow.AddSeconds(121));
    }

    [Fact]
    public async Task NoDeadline_ServerSeesNone()
    {
        var request = Request();

        await CreateCompletion().CompleteAsync(request);

        Assert.Equal(DateTime.MaxValue, gateway.Seen[request.User].Deadline);
    }

    [Fact]
    public async Task DefaultServiceConfig_UnavailableOnce_RetriedAndSucceeds()
    {
        var request = Request("flaky");

        var response = await CreateCompletion().CompleteAsync(request, deadline: DateTime.UtcNow.Add(Wait));

        Assert.Equal("echo: hi", response.Message.Content);
        Assert.Equal(2, gateway.Attempts[request.User]);
        Assert.Equal("1", gateway.Seen[request.User].Headers.GetValue("grpc-previous-rpc-attempts"));
    }

    [Fact]
    public async Task DefaultServiceConfig_UnavailableEveryTime_ThreeAttemptsThenTrailers()
    {
        var request = Request("unavailable");

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await CreateCompletion().CompleteAsync(request, deadline: DateTime.UtcNow.Add(Wait)));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Equal(3, gateway.Attempts[request.User]);
        Assert.Equal("overloaded", ex.Trailers.GetGatewayErrorKind());
        Assert.Equal(TimeSpan.FromMilliseconds(1500), ex.Trailers.GetGatewayRetryAfter());
    }

    [Fact]
    public async Task DefaultServiceConfig_ResourceExhausted_NotRetried()
    {
        var request = Request("rate-limited");

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await CreateCompletion().CompleteAsync(request));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Equal(1, gateway.Attempts[request.User]);
        Assert.Equal(("rate_limited", TimeSpan.FromMilliseconds(2500)), (ex.Trailers.GetGatewayErrorKind(), ex.Trailers.GetGatewayRetryAfter()));
    }

    [Fact]
    public async Task ServiceConfigNull_UnavailableNotRetried()
    {
        var request = Request("flaky");

        var ex = await Assert.ThrowsAsync<RpcException>(async () => await CreateCompletion(o => o.ServiceConfig = null).CompleteAsync(request));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Equal(1, gateway.Attempts[request.User]);
    }

    [Fact]
    public void AddGatewayClients_NoAddress_FailsNamingTheOption()
    {
        var provider = CreateServices(o => o.Address = null);

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<Completion.CompletionClient>());

        Assert.Contains("GatewayClientOptions.Address", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddGatewayClients_BlankApiKey_FailsNamingTheOption()
    {
        var provider = CreateServices(o => o.ApiKey = "  ");

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<GatewayClientOptions>>().Value);

        Assert.Contains("GatewayClientOptions.ApiKey", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddGatewayClients_ModelsAndHealthRegistered()
    {
        var provider = CreateServices(o => o.ApiKey = "sk-models");

        var models = await provider.GetRequiredService<Models.ModelsClient>().ListModelsAsync(new ListModelsRequest());
        var health = await provider.GetRequiredService<Health.HealthClient>().CheckAsync(new HealthCheckRequest { Service = "gateway.v1.Completion" });

        Assert.Equal(["sim-small", "sim-large"], models.Models.Select(m => m.Id));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }

    [Fact]
    public async Task Interceptor_OnHandBuiltChannel_AppliesApiKey()
    {
        using var channel = GrpcChannel.ForAddress(gateway.Address);
        var client = new Completion.CompletionClient(channel.Intercept(new GatewayCallInterceptor(new GatewayClientOptions { ApiKey = "sk-manual" })));
        var request = Request();

        await client.CompleteAsync(request);

        Assert.Equal("Bearer sk-manual", gateway.Seen[request.User].Headers.GetValue("authorization"));
    }

    [Fact]
    public async Task Complete_Success_GatewayAttemptsReadFromTrailers()
    {
        using var call = CreateCompletion().CompleteAsync(Request());
        await call;

        var attempt = Assert.Single(call.GetTrailers().GetGatewayAttempts());
        Assert.Equal(new GatewayAttempt(1, "primary", "success", null, false, false), attempt);
    }

    [Fact]
    public async Task StreamEvents_YieldsEventsInOrder()
    {
        var cases = new List<CompletionChunk.EventOneofCase>();
        var text = "";

        await foreach (var chunk in CreateCompletion().StreamEventsAsync(Request()))
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
    public async Task StreamEvents_OkWithoutFinish_InternalAfterTheEvents()
    {
        var received = new List<CompletionChunk.EventOneofCase>();

        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var chunk in CreateCompletion().StreamEventsAsync(Request("no-finish")))
            {
                received.Add(chunk.EventCase);
            }
        });

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
        Assert.Contains("without a finish event", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal([CompletionChunk.EventOneofCase.Start, CompletionChunk.EventOneofCase.Delta], received);
    }

    [Fact]
    public async Task StreamEvents_EventAfterFinish_Internal()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in CreateCompletion().StreamEventsAsync(Request("after-finish")))
            {
            }
        });

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
        Assert.Contains("after the finish event", ex.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamEvents_ServerFailsMidStream_EventsThenRpcExceptionWithTrailers()
    {
        var received = new List<CompletionChunk.EventOneofCase>();
        var request = Request("fail");

        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var chunk in CreateCompletion().StreamEventsAsync(request))
            {
                received.Add(chunk.EventCase);
            }
        });

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Equal("stream_interrupted", ex.Trailers.GetGatewayErrorKind());
        Assert.Equal([CompletionChunk.EventOneofCase.Start, CompletionChunk.EventOneofCase.Delta, CompletionChunk.EventOneofCase.Error], received);
        // Committed once headers arrived: the retry policy never replays a stream.
        Assert.Equal(1, gateway.Attempts[request.User]);
    }

    [Fact]
    public async Task StreamEvents_TokenCancelled_ServerCallCancelled()
    {
        var request = Request("hang");
        var probe = gateway.Probes[request.User] = new ProbeCall();
        using var cts = new CancellationTokenSource();
        await using var events = CreateCompletion().StreamEventsAsync(request, cancellationToken: cts.Token).GetAsyncEnumerator();
        Assert.True(await events.MoveNextAsync());
        Assert.Equal(CompletionChunk.EventOneofCase.Start, events.Current.EventCase);
        await probe.Started.Task.WaitAsync(Wait);
        var next = events.MoveNextAsync().AsTask();
        Assert.False(next.IsCompleted);

        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(() => next);
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await probe.HandlerCancelled.Task.WaitAsync(Wait);
    }

    [Fact]
    public async Task StreamEvents_LoopLeftEarly_ServerCallCancelled()
    {
        var request = Request("hang");
        var probe = gateway.Probes[request.User] = new ProbeCall();

        await foreach (var chunk in CreateCompletion().StreamEventsAsync(request))
        {
            Assert.Equal(CompletionChunk.EventOneofCase.Start, chunk.EventCase);
            await probe.Started.Task.WaitAsync(Wait);
            break;
        }

        await probe.HandlerCancelled.Task.WaitAsync(Wait);
    }

    [Fact]
    public async Task StreamEvents_DefaultTimeout_DeadlineExceeded()
    {
        var request = Request("hang");
        gateway.Probes[request.User] = new ProbeCall();

        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var _ in CreateCompletion(o => o.DefaultTimeout = TimeSpan.FromMilliseconds(500)).StreamEventsAsync(request))
            {
            }
        });

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
    }

    [Fact]
    public async Task ReadEvents_CallKeptForHeadersStatusAndTrailers()
    {
        var request = Request();
        using var call = CreateCompletion().StreamComplete(request);

        var headers = await call.ResponseHeadersAsync;
        var count = 0;
        await foreach (var _ in call.ReadEventsAsync())
        {
            count++;
        }

        Assert.Equal("cmpl-" + request.User, headers.GetValue("x-request-id"));
        Assert.Equal(5, count);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("2", call.GetTrailers().GetValue("x-output-tokens"));
    }
}
