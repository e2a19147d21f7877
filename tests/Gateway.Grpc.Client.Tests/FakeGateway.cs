using System.Collections.Concurrent;
using System.Net;
using Gateway.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Client.Tests;

/// <summary>What the fake gateway saw of one call attempt.</summary>
internal sealed record SeenCall(Metadata Headers, DateTime Deadline);

/// <summary>Sync points of a "hang" stream: the handler started, and its token was cancelled.</summary>
internal sealed class ProbeCall
{
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource HandlerCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// gateway.v1 Completion and Models plus grpc.health.v1 on grpc-dotnet, Kestrel h2c on a free
/// loopback port. The request's <c>user</c> is the test's key into <see cref="Seen"/>,
/// <see cref="Attempts"/> and <see cref="Probes"/>. The model picks the behaviour:
/// "sim-small" answers (stream: start, "Hel", "lo", usage, finish); "unavailable" and
/// "rate-limited" fail with the gateway's trailers; "flaky" fails UNAVAILABLE once, then answers;
/// "fail" streams start and "partial" and an error event, then fails; "no-finish" and
/// "after-finish" break the stream contract; "hang" streams start and waits to be cancelled.
/// </summary>
public sealed class FakeGateway : IAsyncLifetime
{
    private WebApplication _app = null!;

    public Uri Address { get; private set; } = null!;

    internal ConcurrentDictionary<string, SeenCall> Seen { get; } = new(StringComparer.Ordinal);

    internal ConcurrentDictionary<string, int> Attempts { get; } = new(StringComparer.Ordinal);

    internal ConcurrentDictionary<string, ProbeCall> Probes { get; } = new(StringComparer.Ordinal);

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(this);
        builder.Services.AddHealthChecks().AddCheck("gateway", static () => HealthCheckResult.Healthy());
        builder.Services.AddGrpcHealthChecks(o => o.Services.Map("gateway.v1.Completion", static _ => true));
        _app = builder.Build();
        _app.MapGrpcService<FakeCompletion>();
        _app.MapGrpcService<FakeModels>();
        _app.MapGrpcHealthChecksService();
        await _app.StartAsync();
        Address = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    internal int Record(CompletionRequest request, ServerCallContext context)
    {
        Seen[request.User] = new SeenCall(context.RequestHeaders, context.Deadline);
        return Attempts.AddOrUpdate(request.User, 1, static (_, n) => n + 1);
    }

    internal static RpcException GatewayFailure(StatusCode code, string kind, long retryAfterMs) => new(
        new Status(code, $"Upstream failed ({kind})"),
        new Metadata
        {
            { "gateway-error-kind", kind },
            { "retry-after-ms", retryAfterMs.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            { "gateway-attempts", $"1:primary:failed:{kind},2:secondary:failed:{kind}:fallback" },
        });
}

internal sealed class FakeCompletion(FakeGateway gateway) : Completion.CompletionBase
{
    public override Task<CompletionResponse> Complete(CompletionRequest request, ServerCallContext context)
    {
        var attempt = gateway.Record(request, context);
        switch (request.Model)
        {
            case "unavailable":
            case "flaky" when attempt == 1:
                throw FakeGateway.GatewayFailure(StatusCode.Unavailable, "overloaded", 1500);
            case "rate-limited":
                throw FakeGateway.GatewayFailure(StatusCode.ResourceExhausted, "rate_limited", 2500);
        }

        context.ResponseTrailers.Add("gateway-attempts", "1:primary:success");
        return Task.FromResult(new CompletionResponse
        {
            Id = "cmpl-1",
            Model = request.Model,
            Provider = "simulated",
            Message = new Message { Role = Role.Assistant, Content = "echo: " + request.Messages[^1].Content },
            FinishReason = FinishReason.Stop,
        });
    }

    public override async Task StreamComplete(CompletionRequest request, IServerStreamWriter<CompletionChunk> responseStream, ServerCallContext context)
    {
        gateway.Record(request, context);
        var token = context.CancellationToken;
        await context.WriteResponseHeadersAsync(new Metadata { { "x-request-id", "cmpl-" + request.User } });
        await responseStream.WriteAsync(new CompletionChunk { Start = new StreamStart { Id = "cmpl-" + request.User, Model = request.Model } }, token);
        switch (request.Model)
        {
            case "fail":
                await responseStream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = "partial" } }, token);
                await responseStream.WriteAsync(new CompletionChunk { Error = new StreamError { Code = (int)StatusCode.Unavailable, Message = "upstream down", Kind = "stream_interrupted" } }, token);
                throw FakeGateway.GatewayFailure(StatusCode.Unavailable, "stream_interrupted", 100);

            case "no-finish":
                await responseStream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = "Hel" } }, token);
                return;

            case "after-finish":
                await responseStream.WriteAsync(new CompletionChunk { Finish = new Finish { Reason = FinishReason.Stop } }, token);
                await responseStream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = "late" } }, token);
                return;

            case "hang":
                var probe = gateway.Probes[request.User];
                probe.Started.TrySetResult();
                var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                await using (token.Register(static s => ((TaskCompletionSource)s!).TrySetResult(), cancelled))
                {
                    await cancelled.Task;
                }

                probe.HandlerCancelled.TrySetResult();
                return;

            default:
                foreach (var text in new[] { "Hel", "lo" })
                {
                    await responseStream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = text } }, token);
                }

                await responseStream.WriteAsync(new CompletionChunk { Usage = new Usage { InputTokens = 3, OutputTokens = 2 } }, token);
                await responseStream.WriteAsync(new CompletionChunk { Finish = new Finish { Reason = FinishReason.Stop } }, token);
                context.ResponseTrailers.Add("x-output-tokens", "2");
                return;
        }
    }
}

internal sealed class FakeModels : Models.ModelsBase
{
    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context) => Task.FromResult(new ListModelsResponse
    {
        Models =
        {
            new Model { Id = "sim-small", OwnedBy = "simulated", ContextWindow = 8192 },
            new Model { Id = "sim-large", OwnedBy = "simulated", ContextWindow = 32768 },
        },
    });
}
