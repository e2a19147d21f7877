using System.Collections.Concurrent;
using Grpc.Core;
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
/// test.Probe (TestInfrastructure/Protos/test/probe.proto): handlers that wait for their
/// cancellation token and report what they saw, so deadline and cancellation tests have
/// explicit sync points instead of sleeps. A call finds its <see cref="ProbeCall"/> by the
/// <c>x-probe-id</c> request header. Register one instance as a singleton: grpc-dotnet then
/// serves every call with it.
/// </summary>
internal sealed class ProbeService : Probe.ProbeBase
{
    public const string IdKey = "x-probe-id";

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

    public override async Task<Empty> Hang(Empty request, ServerCallContext context)
    {
        await RunAsync(context, null);
        return new Empty();
    }

    public override Task HangAfterFirst(Empty request, IServerStreamWriter<Payload> responseStream, ServerCallContext context)
        => RunAsync(context, () => responseStream.WriteAsync(new Payload(), context.CancellationToken));

    public override Task<Empty> Throw(Empty request, ServerCallContext context) => throw new InvalidOperationException(SecretDetail);

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
