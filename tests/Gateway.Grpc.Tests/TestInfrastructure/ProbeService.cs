using System.Collections.Concurrent;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Server;
using Grpc.Testing;

namespace Gateway.Grpc.Tests.TestInfrastructure;

/// <summary>What a test observes of one probe call on the server.</summary>
internal sealed class ProbeCall
{
    /// <summary>Set when the handler runs, with its context.</summary>
    public TaskCompletionSource<ServerCallContext> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when the handler's cancellation token fires.</summary>
    public TaskCompletionSource HandlerCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when the handler has returned or thrown.</summary>
    public TaskCompletionSource HandlerExited { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// A service whose handlers wait for their cancellation token and report what they saw, so
/// deadline and cancellation tests have explicit sync points instead of sleeps. A call finds
/// its <see cref="ProbeCall"/> by the <c>x-probe-id</c> request header.
/// </summary>
internal sealed class ProbeService
{
    public const string ServiceName = "test.Probe";
    public const string IdKey = "x-probe-id";

    /// <summary>Unary: waits until cancelled.</summary>
    public static readonly Method<Empty, Empty> Hang = new(
        MethodType.Unary, ServiceName, "Hang", Marshallers.Protobuf(Empty.Parser), Marshallers.Protobuf(Empty.Parser));

    /// <summary>Server streaming: sends one message, then waits until cancelled.</summary>
    public static readonly Method<Empty, Payload> HangAfterFirst = new(
        MethodType.ServerStreaming, ServiceName, "HangAfterFirst", Marshallers.Protobuf(Empty.Parser), Marshallers.Protobuf(Payload.Parser));

    /// <summary>Unary: throws an exception that is not an RpcException.</summary>
    public static readonly Method<Empty, Empty> Throw = new(
        MethodType.Unary, ServiceName, "Throw", Marshallers.Protobuf(Empty.Parser), Marshallers.Protobuf(Empty.Parser));

    /// <summary>The message of the exception <see cref="Throw"/> throws; must not reach clients.</summary>
    public const string SecretDetail = "connection string Password=hunter2";

    private readonly ConcurrentDictionary<string, ProbeCall> _calls = new(StringComparer.Ordinal);

    /// <summary>Registers a probe; pass the returned metadata with the call.</summary>
    public (ProbeCall Call, Metadata Headers) Expect()
    {
        var id = Guid.NewGuid().ToString("N");
        var call = new ProbeCall();
        _calls[id] = call;
        return (call, new Metadata { { IdKey, id } });
    }

    public ServerServiceDefinition CreateDefinition()
        => ServerServiceDefinition.CreateBuilder(ServiceName)
            .AddMethod(Hang, async (Empty _, ServerCallContext context) =>
            {
                await RunAsync(context, null);
                return new Empty();
            })
            .AddMethod(Throw, (Empty _, ServerCallContext _) => throw new InvalidOperationException(SecretDetail))
            .AddMethod(HangAfterFirst, async (Empty _, IServerStreamWriter<Payload> stream, ServerCallContext context) =>
                await RunAsync(context, () => stream.WriteAsync(new Payload(), context.CancellationToken)))
            .Build();

    private async Task RunAsync(ServerCallContext context, Func<Task>? beforeWait)
    {
        var call = _calls[context.RequestHeaders.GetValue(IdKey)!];
        try
        {
            if (beforeWait is not null)
            {
                await beforeWait();
            }

            call.Started.TrySetResult(context);
            var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using (context.CancellationToken.Register(static s => ((TaskCompletionSource)s!).TrySetResult(), cancelled))
            {
                await cancelled.Task;
            }

            call.HandlerCancelled.TrySetResult();
            context.CancellationToken.ThrowIfCancellationRequested();
        }
        finally
        {
            call.HandlerExited.TrySetResult();
        }
    }
}
