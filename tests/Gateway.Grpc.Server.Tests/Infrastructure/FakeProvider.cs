using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Gateway.Grpc.Adapters;
using Gateway.V1;

namespace Gateway.Grpc.Server.Tests.Infrastructure;

/// <summary>What one upstream call does.</summary>
internal sealed record Behavior
{
    public TimeSpan Delay { get; init; }

    public ProviderErrorKind? Fail { get; init; }

    public TimeSpan? RetryAfter { get; init; }

    /// <summary>Never answer; wait for cancellation.</summary>
    public bool Hang { get; init; }

    /// <summary>Answer only once this task completes (the test holds the call in flight until it says so).</summary>
    public Task? Gate { get; init; }

    /// <summary>Wait for <see cref="Gate"/> even when cancelled, then answer (an upstream that finished anyway).</summary>
    public bool AnswerDespiteCancellation { get; init; }

    /// <summary>A stream waits here after its first token until the test completes it.</summary>
    public Task? MidStreamGate { get; init; }

    /// <summary>Stream this many deltas, then fail with <see cref="Fail"/> (or just end without finish).</summary>
    public int? TokensBeforeFailure { get; init; }

    /// <summary>Delay between streamed tokens.</summary>
    public TimeSpan TokenInterval { get; init; }

    public int Tokens { get; init; } = 3;

    /// <summary>Throw this (not a ProviderException: an adapter's bug) instead of answering.</summary>
    public Exception? Throw { get; init; }

    /// <summary>Throw an OperationCanceledException of the adapter's own (its internal timeout), not the caller's.</summary>
    public bool OwnCancellation { get; init; }

    public static Behavior Ok(int delayMs = 0) => new() { Delay = TimeSpan.FromMilliseconds(delayMs) };

    public static Behavior Error(ProviderErrorKind kind, int? retryAfterMs = null) => new() { Fail = kind, RetryAfter = retryAfterMs is { } r ? TimeSpan.FromMilliseconds(r) : null };
}

/// <summary>One upstream call as the fake provider saw it.</summary>
internal sealed class FakeCall(int sequence, string deployment, bool stream, DateTimeOffset started)
{
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Sequence { get; } = sequence;

    public string Deployment { get; } = deployment;

    public bool Stream { get; } = stream;

    public DateTimeOffset Started { get; } = started;

    public bool Cancelled { get; private set; }

    /// <summary>Completes when the call ends (answered, failed or cancelled).</summary>
    public Task Ended => _ended.Task;

    public void End(bool cancelled)
    {
        Cancelled = cancelled;
        _ended.TrySetResult();
    }
}

/// <summary>
/// A scriptable provider: each deployment has a queue of behaviors (the last one repeats), and
/// every call is recorded with whether it was cancelled, so tests can assert that upstream
/// requests were aborted.
/// </summary>
internal sealed class FakeProvider : IProviderAdapter
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Behavior>> _scripts = new();
    private readonly ConcurrentDictionary<string, Behavior> _defaults = new();
    private readonly ConcurrentQueue<FakeCall> _calls = new();
    private readonly TaskCompletionSource _firstCall = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _sequence;

    public string Provider => "fake";

    public IReadOnlyList<FakeCall> Calls => _calls.ToArray();

    public IEnumerable<FakeCall> CallsTo(string deployment) => _calls.Where(c => c.Deployment == deployment);

    /// <summary>Sets what calls to a deployment do: in order, the last one repeating.</summary>
    public void Script(string deployment, params Behavior[] behaviors)
    {
        _scripts[deployment] = new ConcurrentQueue<Behavior>(behaviors[..^1]);
        _defaults[deployment] = behaviors[^1];
    }

    public Task FirstCall => _firstCall.Task;

    private readonly ConcurrentDictionary<string, (double Rate, ProviderErrorKind Kind, Random Random)> _faultRates = new();

    /// <summary>A seeded fraction of calls to the deployment fail with <paramref name="kind"/>.</summary>
    public void FaultRate(string deployment, double rate, ProviderErrorKind kind, int seed = 42)
        => _faultRates[deployment] = (rate, kind, new Random(seed));

    private Behavior Next(string deployment)
    {
        if (_faultRates.TryGetValue(deployment, out var fault))
        {
            lock (fault.Random)
            {
                return fault.Random.NextDouble() < fault.Rate ? Behavior.Error(fault.Kind) : Behavior.Ok();
            }
        }

        return NextScripted(deployment);
    }

    private Behavior NextScripted(string deployment)
        => _scripts.TryGetValue(deployment, out var queue) && queue.TryDequeue(out var b) ? b : _defaults.GetValueOrDefault(deployment, Behavior.Ok());

    private FakeCall Record(string deployment, bool stream)
    {
        var call = new FakeCall(Interlocked.Increment(ref _sequence), deployment, stream, DateTimeOffset.UtcNow);
        _calls.Enqueue(call);
        _firstCall.TrySetResult();
        return call;
    }

    public async Task<CompletionResponse> CompleteAsync(ProviderCall call, CancellationToken cancellationToken)
    {
        var record = Record(call.Deployment.Name, stream: false);
        var behavior = Next(call.Deployment.Name);
        try
        {
            await BeforeAnswerAsync(behavior, cancellationToken);
            if (behavior.Throw is { } bug)
            {
                throw bug;
            }

            if (behavior.Fail is { } kind)
            {
                throw new ProviderException(kind, $"scripted {kind}", behavior.RetryAfter);
            }

            record.End(cancelled: false);
            return new CompletionResponse
            {
                Model = call.Deployment.UpstreamModel,
                Provider = Provider,
                Message = new Message { Role = Role.Assistant, Content = "answer from " + call.Deployment.Name },
                FinishReason = FinishReason.Stop,
                Usage = new Usage { InputTokens = 5, OutputTokens = 3 },
            };
        }
        catch (OperationCanceledException)
        {
            record.End(cancelled: true);
            throw;
        }
        catch
        {
            record.End(cancelled: false);
            throw;
        }
    }

    public async IAsyncEnumerable<CompletionChunk> StreamAsync(ProviderCall call, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var record = Record(call.Deployment.Name, stream: true);
        var behavior = Next(call.Deployment.Name);
        var ended = false;
        try
        {
            await BeforeAnswerAsync(behavior, cancellationToken);
            if (behavior.Throw is { } bug)
            {
                ended = true;
                record.End(cancelled: false);
                throw bug;
            }

            if (behavior.Fail is { } kind && behavior.TokensBeforeFailure is null)
            {
                ended = true;
                record.End(cancelled: false);
                throw new ProviderException(kind, $"scripted {kind}", behavior.RetryAfter);
            }

            var tokens = behavior.TokensBeforeFailure ?? behavior.Tokens;
            for (var i = 0; i < tokens; i++)
            {
                if (i == 1 && behavior.MidStreamGate is { } midStream)
                {
                    await midStream.WaitAsync(cancellationToken);
                }

                if (i > 0 && behavior.TokenInterval > TimeSpan.Zero)
                {
                    await Task.Delay(behavior.TokenInterval, cancellationToken);
                }

                cancellationToken.ThrowIfCancellationRequested();
                yield return new CompletionChunk { Delta = new TextDelta { Text = $"[{call.Deployment.Name}:{i}]" } };
            }

            if (behavior.TokensBeforeFailure is not null)
            {
                ended = true;
                record.End(cancelled: false);
                if (behavior.Fail is { } midKind)
                {
                    throw new ProviderException(midKind, "scripted mid-stream failure");
                }

                yield break;
            }

            yield return new CompletionChunk { Usage = new Usage { InputTokens = 5, OutputTokens = tokens } };
            ended = true;
            record.End(cancelled: false);
            yield return new CompletionChunk { Finish = new Finish { Reason = FinishReason.Stop } };
        }
        finally
        {
            if (!ended)
            {
                record.End(cancelled: true);
            }
        }
    }

    private static async Task BeforeAnswerAsync(Behavior behavior, CancellationToken cancellationToken)
    {
        if (behavior.Hang)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        }

        if (behavior.Gate is { } gate)
        {
            await (behavior.AnswerDespiteCancellation ? gate : gate.WaitAsync(cancellationToken));
        }

        if (behavior.Delay > TimeSpan.Zero)
        {
            await Task.Delay(behavior.Delay, cancellationToken);
        }

        if (behavior.OwnCancellation)
        {
            using var own = new CancellationTokenSource();
            await own.CancelAsync();
            own.Token.ThrowIfCancellationRequested();
        }
    }
}
