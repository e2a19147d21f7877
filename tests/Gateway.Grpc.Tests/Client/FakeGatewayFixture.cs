using System.Collections.Concurrent;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Server;
using Gateway.Grpc.Tests.TestInfrastructure;
using Gateway.V1;

namespace Gateway.Grpc.Tests.Client;

/// <summary>What the fake gateway saw of one call.</summary>
internal sealed record SeenCall(Metadata Headers, DateTime Deadline);

/// <summary>
/// gateway.v1 Completion and Models, faked on our server (plus grpc.health.v1), so the typed
/// clients can be tested without the gateway host. The request's <c>user</c> field is the
/// test's key into <see cref="Seen"/> and <see cref="Probes"/>. Models:
/// "sim-small" streams start, "Hel", "lo", usage, finish; "fail" streams start and "partial",
/// then fails UNAVAILABLE with trailers; "hang" streams start and waits to be cancelled.
/// </summary>
public sealed class FakeGatewayFixture : IAsyncLifetime
{
    private GrpcTestServer? _server;

    internal GrpcTestServer Server => _server ?? throw new InvalidOperationException("Not started.");

    internal ConcurrentDictionary<string, SeenCall> Seen { get; } = new(StringComparer.Ordinal);

    internal ConcurrentDictionary<string, ProbeCall> Probes { get; } = new(StringComparer.Ordinal);

    public async Task InitializeAsync()
        => _server = await GrpcTestServer.StartAsync(app =>
        {
            app.MapGrpcService(ServerServiceDefinition.CreateBuilder(CompletionMethods.ServiceName, CompletionReflection.Descriptor)
                .AddMethod(CompletionMethods.Complete, CompleteAsync)
                .AddMethod(CompletionMethods.StreamComplete, StreamCompleteAsync)
                .Build());
            app.MapGrpcService(ServerServiceDefinition.CreateBuilder(ModelsMethods.ServiceName, ModelsReflection.Descriptor)
                .AddMethod(ModelsMethods.ListModels, (ListModelsRequest _, ServerCallContext _) => Task.FromResult(new ListModelsResponse
                {
                    Models =
                    {
                        new Model { Id = "sim-small", OwnedBy = "simulated", ContextWindow = 8192 },
                        new Model { Id = "sim-large", OwnedBy = "simulated", ContextWindow = 32768 },
                    },
                }))
                .Build());
            app.MapGrpcHealthService();
        });

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    private Task<CompletionResponse> CompleteAsync(CompletionRequest request, ServerCallContext context)
    {
        Seen[request.User] = new SeenCall(context.RequestHeaders, context.Deadline);
        if (request.Model == "fail")
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "upstream down"), new Metadata { { "x-error-kind", "unavailable" } });
        }

        return Task.FromResult(new CompletionResponse
        {
            Id = "cmpl-1",
            Model = request.Model,
            Provider = "simulated",
            Message = new Message { Role = Role.Assistant, Content = "echo: " + request.Messages[^1].Content },
            FinishReason = FinishReason.Stop,
        });
    }

    private async Task StreamCompleteAsync(CompletionRequest request, IServerStreamWriter<CompletionChunk> stream, ServerCallContext context)
    {
        Seen[request.User] = new SeenCall(context.RequestHeaders, context.Deadline);
        await context.WriteResponseHeadersAsync(new Metadata { { "x-request-id", "cmpl-" + request.User } });
        await stream.WriteAsync(new CompletionChunk { Start = new StreamStart { Id = "cmpl-" + request.User, Model = request.Model } }, context.CancellationToken);
        switch (request.Model)
        {
            case "fail":
                await stream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = "partial" } }, context.CancellationToken);
                await stream.WriteAsync(new CompletionChunk { Error = new StreamError { Code = (int)StatusCode.Unavailable, Message = "upstream down", Kind = "stream_interrupted" } }, context.CancellationToken);
                throw new RpcException(new Status(StatusCode.Unavailable, "upstream down"), new Metadata { { "x-error-kind", "stream_interrupted" } });

            case "hang":
                var probe = Probes[request.User];
                probe.Started.TrySetResult(context);
                var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                await using (context.CancellationToken.Register(static s => ((TaskCompletionSource)s!).TrySetResult(), cancelled))
                {
                    await cancelled.Task;
                }

                probe.HandlerCancelled.TrySetResult();
                return;

            default:
                foreach (var text in new[] { "Hel", "lo" })
                {
                    await stream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = text } }, context.CancellationToken);
                }

                await stream.WriteAsync(new CompletionChunk { Usage = new Usage { InputTokens = 3, OutputTokens = 2 } }, context.CancellationToken);
                await stream.WriteAsync(new CompletionChunk { Finish = new Finish { Reason = FinishReason.Stop } }, context.CancellationToken);
                context.ResponseTrailers.Add("x-output-tokens", "2");
                return;
        }
    }
}
