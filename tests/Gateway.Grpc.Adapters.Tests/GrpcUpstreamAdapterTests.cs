using System.Diagnostics;
using System.Net;
using Gateway.Grpc.Adapters.Grpc;
using Gateway.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Grpc.Adapters.Tests;

/// <summary>The gRPC adapter against a real gateway.v1 server (grpc-dotnet on Kestrel, h2c, loopback).</summary>
public sealed class GrpcUpstreamAdapterTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private string _address = null!;

    private readonly FakeCompletion _upstream = new();

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(_upstream);
        _app = builder.Build();
        _app.MapGrpcService<FakeCompletion>();
        await _app.StartAsync();
        _address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static GrpcUpstreamAdapter CreateSut() => new(new DictionarySecrets(), TimeProvider.System, NullLogger<GrpcUpstreamAdapter>.Instance);

    private ProviderCall Call(string? address = null, string? timeoutMs = null)
    {
        var request = Calls.Hello();
        request.Metadata["team"] = "search";
        request.Routing = new RoutingOptions { Deployment = "our-deployment" };
        return new ProviderCall(request, Calls.Deployment("grpc", "sim-small", new() { ["base_url"] = address ?? _address, ["api_key"] = "env:TEST_KEY", ["headers.x-tenant"] = "t1", ["timeout_ms"] = timeoutMs ?? "600000" }));
    }

    [Fact]
    public async Task Complete_PassesThroughWithUpstreamModelAndCredentials()
    {
        _upstream.Unary = (_, _) => Task.FromResult(new CompletionResponse
        {
            Id = "cmpl-upstream",
            Model = "sim-small",
            Provider = "simulated",
            Message = new Message { Role = Role.Assistant, Content = "Hi there" },
            FinishReason = FinishReason.Stop,
            Usage = new Usage { InputTokens = 5, OutputTokens = 2 },
            Routing = new RoutingInfo { Deployment = "upstream-dep" },
        });
        using var sut = CreateSut();
        var response = await sut.CompleteAsync(Call(), default);
        Assert.Equal("sim-small", _upstream.LastRequest!.Model);
        Assert.Null(_upstream.LastRequest.Routing);
        Assert.Empty(_upstream.LastRequest.Metadata);
        Assert.Equal("Bearer sk-test-123", _upstream.LastHeaders!.GetValue("authorization"));
        Assert.Equal("t1", _upstream.LastHeaders.GetValue("x-tenant"));
        Assert.Equal(("Hi there", FinishReason.Stop, 5, "grpc"), (response.Message.Content, response.FinishReason, response.Usage.InputTokens, response.Provider));
        Assert.Null(response.Routing);
        Assert.Equal("", response.Id);
    }

    [Fact]
    public async Task Complete_PlainRequest_UpstreamSeesUpstreamModel_CallersRequestUnchanged()
    {
        // No routing options and no metadata: the request goes out without a copy (UpstreamRequest).
        _upstream.Unary = (_, _) => Task.FromResult(new CompletionResponse { Message = new Message { Role = Role.Assistant, Content = "ok" } });
        var request = Calls.Hello();
        request.Temperature = 0.5;
        var call = new ProviderCall(request, Calls.Deployment("grpc", "sim-small", new() { ["base_url"] = _address }));
        using var sut = CreateSut();
        await sut.CompleteAsync(call, default);
        Assert.Equal("sim-small", _upstream.LastRequest!.Model);
        Assert.Equal(0.5, _upstream.LastRequest.Temperature);
        Assert.Equal("Hello", _upstream.LastRequest.Messages.Single().Content);
        Assert.Equal("public-model", request.Model);
        Assert.Null(_upstream.LastHeaders!.GetValue("authorization"));
    }

    [Fact]
    public async Task Stream_ForwardMetadata_MetadataReachesUpstream()
    {
        _upstream.Streaming = async (_, stream, _) => await stream.WriteAsync(new CompletionChunk { Finish = new Finish { Reason = FinishReason.Stop } });
        var request = Calls.Hello();
        request.Metadata["team"] = "search";
        var call = new ProviderCall(request, Calls.Deployment("grpc", "sim-small", new() { ["base_url"] = _address, ["forward_metadata"] = "true" }));
        using var sut = CreateSut();
        await Calls.Collect(sut.StreamAsync(call, default));
        Assert.Equal("sim-small", _upstream.LastRequest!.Model);
        Assert.Equal("search", _upstream.LastRequest.Metadata["team"]);
    }

    [Fact]
    public async Task Stream_StartDroppedEventsPassedFinishLast()
    {
        _upstream.Streaming = async (_, stream, _) =>
        {
            await stream.WriteAsync(new CompletionChunk { Start = new StreamStart { Id = "up" } });
            await stream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = "Hel" } });
            await stream.WriteAsync(new CompletionChunk { ToolCallDelta = new ToolCallDelta { Index = 0, Id = "c1", Name = "f", ArgumentsDelta = "{}" } });
            await stream.WriteAsync(new CompletionChunk { Usage = new Usage { InputTokens = 3, OutputTokens = 1 } });
            await stream.WriteAsync(new CompletionChunk { Finish = new Finish { Reason = FinishReason.ToolCalls, Routing = new RoutingInfo { Deployment = "x" } } });
        };
        using var sut = CreateSut();
        var chunks = await Calls.Collect(sut.StreamAsync(Call(), default));
        Assert.Equal(
            [CompletionChunk.EventOneofCase.Delta, CompletionChunk.EventOneofCase.ToolCallDelta, CompletionChunk.EventOneofCase.Usage, CompletionChunk.EventOneofCase.Finish],
            chunks.Select(c => c.EventCase));
        Assert.Null(chunks[^1].Finish.Routing);
    }

    [Fact]
    public async Task Stream_EndsWithoutFinish_StreamInterrupted()
    {
        _upstream.Streaming = (_, stream, _) => stream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = "partial" } });
        using var sut = CreateSut();
        var (chunks, error) = await Calls.CollectUntilError(sut.StreamAsync(Call(), default));
        Assert.Equal(ProviderErrorKind.StreamInterrupted, error.Kind);
        Assert.Equal("partial", Calls.Text(chunks));
    }

    [Fact]
    public async Task Stream_UpstreamErrorEvent_KindPreserved()
    {
        _upstream.Streaming = async (_, stream, _) =>
        {
            await stream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = "a" } });
            await stream.WriteAsync(new CompletionChunk { Error = new StreamError { Code = (int)StatusCode.Unavailable, Kind = "overloaded", Message = "busy" } });
            throw new RpcException(new Status(StatusCode.Unavailable, "busy"));
        };
        using var sut = CreateSut();
        var (_, error) = await Calls.CollectUntilError(sut.StreamAsync(Call(), default));
        Assert.Equal(ProviderErrorKind.Overloaded, error.Kind);
    }

    [Fact]
    public async Task Complete_GatewayErrorTrailers_KindAndRetryAfterPreserved()
    {
        _upstream.Unary = (_, _) =>
        {
            var trailers = new Metadata { { "gateway-error-kind", "rate_limited" }, { "retry-after-ms", "2500" } };
            throw new RpcException(new Status(StatusCode.ResourceExhausted, "Upstream 'x' failed (rate_limited)"), trailers);
        };
        using var sut = CreateSut();
        var error = await Assert.ThrowsAsync<ProviderException>(() => sut.CompleteAsync(Call(), default));
        Assert.Equal((ProviderErrorKind.RateLimited, TimeSpan.FromMilliseconds(2500)), (error.Kind, error.RetryAfter));
    }

    [Theory]
    [InlineData(StatusCode.ResourceExhausted, ProviderErrorKind.RateLimited)]
    [InlineData(StatusCode.InvalidArgument, ProviderErrorKind.BadRequest)]
    [InlineData(StatusCode.Unauthenticated, ProviderErrorKind.AuthFailure)]
    [InlineData(StatusCode.NotFound, ProviderErrorKind.ModelNotFound)]
    [InlineData(StatusCode.Internal, ProviderErrorKind.ServerError)]
    [InlineData(StatusCode.Unavailable, ProviderErrorKind.ServerError)]
    public async Task Complete_PlainStatus_Mapped(StatusCode status, ProviderErrorKind expected)
    {
        _upstream.Unary = (_, _) => throw new RpcException(new Status(status, "nope"));
        using var sut = CreateSut();
        var error = await Assert.ThrowsAsync<ProviderException>(() => sut.CompleteAsync(Call(), default));
        Assert.Equal(expected, error.Kind);
    }

    [Fact]
    public async Task Complete_ConnectionRefused_ConnectionFailure()
    {
        using var sut = CreateSut();
        var error = await Assert.ThrowsAsync<ProviderException>(() => sut.CompleteAsync(Call($"http://127.0.0.1:{Ports.Closed()}"), default));
        Assert.Equal(ProviderErrorKind.ConnectionFailure, error.Kind);
    }

    [Theory]
    [InlineData("30000", null, 30)] // timeout_ms alone
    [InlineData("30000", 5, 5)] // the dispatcher's attempt limit (ProviderCall.Timeout) is shorter: the upstream is told that budget
    [InlineData("5000", 60, 5)] // timeout_ms is shorter: it wins
    public async Task Complete_ShorterOfTimeoutSettingAndCallTimeout_SentAsDeadline(string timeoutMs, int? callTimeoutSeconds, int expectedSeconds)
    {
        using var sut = CreateSut();
        Assert.True(((IProviderAdapter)sut).EnforcesTimeout);
        var call = Call(timeoutMs: timeoutMs) with { Timeout = callTimeoutSeconds is { } t ? TimeSpan.FromSeconds(t) : null };
        var before = DateTime.UtcNow;

        await sut.CompleteAsync(call, default);

        Assert.InRange(_upstream.LastDeadline, before.AddSeconds(expectedSeconds - 2), DateTime.UtcNow.AddSeconds(expectedSeconds + 1));
    }

    [Fact]
    public async Task Complete_UpstreamSlowerThanTimeout_Timeout()
    {
        _upstream.Unary = async (_, context) =>
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
            return new CompletionResponse();
        };
        using var sut = CreateSut();
        var call = Call(timeoutMs: "300");

        var error = await Assert.ThrowsAsync<ProviderException>(() => sut.CompleteAsync(call, default));

        Assert.Equal(ProviderErrorKind.Timeout, error.Kind);
    }

    [Fact]
    public async Task Complete_CurrentActivity_TraceparentForwarded()
    {
        using var sut = CreateSut();
        using var activity = new Activity("caller").SetIdFormat(ActivityIdFormat.W3C).Start();

        await sut.CompleteAsync(Call(), default);

        Assert.StartsWith("00-" + activity.TraceId.ToHexString() + "-", _upstream.LastHeaders!.GetValue("traceparent"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_UpstreamResetsAfterMessages_StreamInterrupted()
    {
        // HttpClient drops DATA it has not handed out when RST_STREAM arrives: reset only once
        // the adapter has yielded the first delta.
        var read = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.Streaming = async (_, stream, context) =>
        {
            await stream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = "partial" } });
            await read.Task.WaitAsync(context.CancellationToken);
            context.GetHttpContext().Abort();
        };
        using var sut = CreateSut();
        await using var events = sut.StreamAsync(Call(), default).GetAsyncEnumerator();
        Assert.True(await events.MoveNextAsync());
        Assert.Equal("partial", events.Current.Delta.Text);

        read.SetResult();
        var error = await Assert.ThrowsAsync<ProviderException>(async () => await events.MoveNextAsync());

        Assert.Equal(ProviderErrorKind.StreamInterrupted, error.Kind);
        Assert.Equal(StatusCode.Internal, Assert.IsType<RpcException>(error.InnerException).StatusCode);
    }

    [Fact]
    public async Task Stream_NoMessageWithinTimeout_TimeoutAndUpstreamCancelled()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.Streaming = async (_, _, context) =>
        {
            context.CancellationToken.Register(() => cancelled.TrySetResult());
            await Task.Delay(Timeout.Infinite, context.CancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        };
        using var sut = CreateSut();

        var (chunks, error) = await Calls.CollectUntilError(sut.StreamAsync(Call(timeoutMs: "300"), default));

        Assert.Empty(chunks);
        Assert.Equal(ProviderErrorKind.Timeout, error.Kind);
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Stream_UpstreamGoesSilentAfterAMessage_TimeoutAfterIdleLimitNotTimeout()
    {
        // timeout_ms (the first message) is long; the idle limit, restarted by every message, is what ends it.
        _upstream.Streaming = async (_, stream, context) =>
        {
            await stream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = "a" } });
            await Task.Delay(Timeout.Infinite, context.CancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        };
        var call = new ProviderCall(Calls.Hello(), Calls.Deployment("grpc", "sim-small", new() { ["base_url"] = _address, ["timeout_ms"] = "600000", ["stream_idle_timeout_ms"] = "300" }));
        using var sut = CreateSut();
        var started = Stopwatch.StartNew();

        var (chunks, error) = await Calls.CollectUntilError(sut.StreamAsync(call, default));

        Assert.Equal("a", Assert.Single(chunks).Delta.Text);
        Assert.Equal(ProviderErrorKind.Timeout, error.Kind);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(60), $"ended after {started.Elapsed}, not by the 300 ms idle limit");
    }

    [Fact]
    public async Task Stream_CallerCancels_UpstreamCallCancelled()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.Streaming = async (_, stream, context) =>
        {
            context.CancellationToken.Register(() => cancelled.TrySetResult());
            await stream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = "a" } });
            await Task.Delay(Timeout.Infinite, context.CancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        };
        using var sut = CreateSut();
        using var cts = new CancellationTokenSource();
        await using var events = sut.StreamAsync(Call(), cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await events.MoveNextAsync());
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await events.MoveNextAsync());
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }
}

/// <summary>gateway.v1.Completion answering with the running test's handlers (one instance: a DI singleton).</summary>
internal sealed class FakeCompletion : Completion.CompletionBase
{
    public Func<CompletionRequest, ServerCallContext, Task<CompletionResponse>> Unary { get; set; } = (_, _) => Task.FromResult(new CompletionResponse());

    public Func<CompletionRequest, IServerStreamWriter<CompletionChunk>, ServerCallContext, Task> Streaming { get; set; } = (_, _, _) => Task.CompletedTask;

    public CompletionRequest? LastRequest { get; private set; }

    public Metadata? LastHeaders { get; private set; }

    public DateTime LastDeadline { get; private set; }

    public override Task<CompletionResponse> Complete(CompletionRequest request, ServerCallContext context)
    {
        (LastRequest, LastHeaders, LastDeadline) = (request, context.RequestHeaders, context.Deadline);
        return Unary(request, context);
    }

    public override Task StreamComplete(CompletionRequest request, IServerStreamWriter<CompletionChunk> responseStream, ServerCallContext context)
    {
        (LastRequest, LastHeaders, LastDeadline) = (request, context.RequestHeaders, context.Deadline);
        return Streaming(request, responseStream, context);
    }
}
