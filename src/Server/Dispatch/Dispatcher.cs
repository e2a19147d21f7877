using System.Runtime.ExceptionServices;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Governance.Limits;
using Grpc.Core;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;

namespace Gateway.Grpc.Server.Dispatch;

/// <summary>
/// Runs a call against its model group: picks deployments, retries (Polly, with backoff, jitter,
/// Retry-After and a retry budget), falls back to other groups, hedges slow attempts, and keeps
/// every attempt inside the caller's deadline and cancellation. Streams are dispatched up to
/// their first event; after that they are committed to one deployment.
/// </summary>
internal sealed partial class Dispatcher(ModelCatalog catalog, IRateLimitBackend limits, GovernanceSettings governance, TimeProvider timeProvider, DispatchTelemetry telemetry, ILogger<Dispatcher> logger)
{
    internal TimeProvider TimeProvider => timeProvider;

    /// <summary>The dispatch state of one call: its attempts, deadline and cancellation.</summary>
    /// <param name="fit">What the pre-dispatch context-window check found (<see cref="ContextFit.None"/>: nothing to honour).</param>
    public CallState NewCall(CompletionRequest request, DateTime deadline, CancellationToken cancellationToken, ContextFit fit = default)
        => new(request, deadline, timeProvider, cancellationToken, telemetry) { ContextTokens = fit.Tokens, InFallback = fit.Fallback, Needs = fit.Needs };

    /// <summary>
    /// Unary completion with retries, fallbacks and hedging; the routing of the call is
    /// <c>state.Routing(served)</c> (no wrapper here: one async layer less per call).
    /// </summary>
    public Task<(CompletionResponse Response, DeploymentRuntime Served)> CompleteAsync(ModelGroup group, CallState state)
        => RunAsync(group, state, UnaryOperation.Instance);

    /// <summary>
    /// Opens a stream: retries, fallbacks and hedging apply until the first event. The result is
    /// the handle and the deployment serving it (no wrapper: one state machine less held by every
    /// open stream while it waits for its first event).
    /// </summary>
    public Task<(StreamHandle Handle, DeploymentRuntime Served)> OpenStreamAsync(ModelGroup group, CompletionRequest request, DateTime deadline, CancellationToken cancellationToken, ContextFit fit = default)
        => RunAsync(group, NewCall(request, deadline, cancellationToken, fit), StreamOperation.Instance);

    /// <summary>
    /// Opens the stream that takes over a stream that failed mid-way: same call state (so its
    /// attempts carry on and the failed deployment is not chosen again while others remain), the
    /// caller's output so far as the new attempts' prefix (<see cref="CallState.Continuation"/>).
    /// </summary>
    public async Task<StreamHandle> ContinueStreamAsync(ModelGroup group, CallState state)
    {
        var (handle, _) = await RunAsync(group, state, StreamOperation.Instance).ConfigureAwait(false);
        return handle;
    }

    /// <summary>
    /// A call on its group: the first attempt, then retries and fallbacks when it fails. Not an
    /// async method: an unhedged first attempt is handed back as it is, and when it fails it goes
    /// on with the rest itself (<see cref="RunOneAsync{T}"/>'s <c>recover</c>), so a call served by
    /// its first attempt holds no state machine of this layer. Hedged groups go straight to
    /// <see cref="RunLoopAsync{T}"/>.
    /// </summary>
    private Task<(T Result, DeploymentRuntime Served)> RunAsync<T>(ModelGroup group, CallState state, IAttemptOperation<T> operation)
        where T : class
    {
        if (Hedges(group, state))
        {
            return RunLoopAsync(group, state, operation, null);
        }

        group.RetryBudget.RecordRequest();
        return AttemptAsync(group, state, operation, state.CancellationToken, recover: true);
    }

    /// <summary>
    /// Attempts, retries (Polly) and fallbacks to other groups. <paramref name="failed"/>: the
    /// call's first attempt already failed this way on <paramref name="group"/> (its request was
    /// counted in the retry budget), so the loop starts from that failure instead of a new attempt.
    /// </summary>
    private async Task<(T Result, DeploymentRuntime Served)> RunLoopAsync<T>(ModelGroup group, CallState state, IAttemptOperation<T> operation, ProviderException? failed)
        where T : class
    {
        // Made on the first fallback: most calls never leave their group.
        HashSet<string>? visited = null;
        int[]? chainPositions = null;
        var current = group;
        while (true)
        {
            ProviderException error;
            if (failed is null)
            {
                try
                {
                    // The first attempt runs outside Polly: most calls succeed at once, and the
                    // retry pipeline (its context, properties and state machines) costs about a
                    // kilobyte per call. A failure it would handle hands over to it (RetryAsync).
                    current.RetryBudget.RecordRequest();
                    return await AttemptAsync(current, state, operation, state.CancellationToken).ConfigureAwait(false);
                }
                catch (ProviderException attemptFailed)
                {
                    error = attemptFailed;
                }
            }
            else
            {
                // The failure the call came in with, handled as if this loop's attempt had thrown it.
                (error, failed) = (failed, null);
            }

            if (current.Retries && ModelGroup.IsRetryable(error.Kind))
            {
                try
                {
                    return await RetryAsync(current, state, operation, error).ConfigureAwait(false);
                }
                catch (ProviderException retried)
                {
                    error = retried;
                }
            }

            visited ??= new HashSet<string>(StringComparer.Ordinal) { group.Name };
            chainPositions ??= new int[3];
            var next = NextFallback(group, state, error.Kind, visited, chainPositions);
            if (next is null)
            {
                throw Fail(error, state);
            }

            EnsureBudget(next, state);
            Log.FallingBack(logger, current.Name, next.Name, error.KindName);
            telemetry.Fallback(current.Name, next.Name, error.KindName);
            visited.Add(next.Name);
            state.InFallback = true;
            current = next;
        }
    }

    /// <summary>Chooses the next model for this error class from the requested group's chains.</summary>
    private ModelGroup? NextFallback(ModelGroup origin, CallState state, ProviderErrorKind kind, HashSet<string> visited, int[] positions)
    {
        IReadOnlyList<string> chain;
        int slot;
        if (kind == ProviderErrorKind.ContextLengthExceeded)
        {
            chain = origin.Options.ContextFallbacks;
            slot = 1;
        }
        else if (kind == ProviderErrorKind.ContentFiltered)
        {
            chain = origin.Options.ContentFilterFallbacks;
            slot = 2;
        }
        else if (ModelGroup.IsRetryable(kind))
        {
            chain = state.Request.Routing is { FallbackModels.Count: > 0 } routing ? routing.FallbackModels : origin.Options.Fallbacks;
            slot = 0;
        }
        else
        {
            return null;
        }

        while (positions[slot] < chain.Count)
        {
            var name = chain[positions[slot]++];
            if (!visited.Contains(name) && catalog.TryGet(name, out var next) && next.Kind == ModelKind.Deployments
                && (state.Needs == Routing.Capability.None || next.CanServe(state.Needs, state.Request.MaxTokens)))
            {
                return next;
            }
        }

        return null;
    }

    /// <summary>
    /// Hands a call whose first attempt failed in a retryable way to the group's Polly retry
    /// pipeline. The pipeline's first execution reports that failure instead of calling again,
    /// so its strategy (retry budget, deadline, Retry-After, backoff with jitter, telemetry)
    /// decides on it exactly as if it had made the first attempt itself.
    /// </summary>
    private async Task<(T Result, DeploymentRuntime Served)> RetryAsync<T>(ModelGroup group, CallState state, IAttemptOperation<T> operation, ProviderException first)
        where T : class
    {
        var context = ResilienceContextPool.Shared.Get(state.CancellationToken);
        context.Properties.Set(CallState.Key, state);
        try
        {
            var outcome = await group.RetryPipeline.ExecuteOutcomeAsync(
                static (ctx, run) => run.NextAsync(ctx.CancellationToken),
                context,
                new RetryRun<T>(this, group, state, operation, first)).ConfigureAwait(false);
            outcome.ThrowIfException();
            return ((Served<T>)outcome.Result!).Value;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>The attempts of one retried call, as the retry pipeline's state: the first one already failed.</summary>
    private sealed class RetryRun<T>(Dispatcher dispatcher, ModelGroup group, CallState state, IAttemptOperation<T> operation, ProviderException first)
        where T : class
    {
        private ProviderException? _first = first;

        public ValueTask<Outcome<object>> NextAsync(CancellationToken cancellationToken)
        {
            if (Interlocked.Exchange(ref _first, null) is { } failed)
            {
                return ValueTask.FromResult(Outcome.FromException<object>(failed));
            }

            return AttemptAsync(cancellationToken);
        }

        private async ValueTask<Outcome<object>> AttemptAsync(CancellationToken cancellationToken)
        {
            try
            {
                return Outcome.FromResult<object>(new Served<T>(await dispatcher.AttemptAsync(group, state, operation, cancellationToken).ConfigureAwait(false)));
            }
            catch (Exception ex)
            {
                return Outcome.FromException<object>(ex);
            }
        }
    }

    /// <summary>
    /// One retry-level attempt: a deployment, plus hedges when the group hedges. Not an async
    /// method: without hedging it hands back the one attempt's task (no extra state machine).
    /// </summary>
    /// <param name="recover">
    /// The call's unhedged first attempt (<see cref="RunAsync{T}"/>): a provider failure, choosing
    /// the deployment or in the attempt, goes on to retries and fallbacks (<see cref="RunLoopAsync{T}"/>).
    /// </param>
    private Task<(T Result, DeploymentRuntime Served)> AttemptAsync<T>(ModelGroup group, CallState state, IAttemptOperation<T> operation, CancellationToken cancellationToken, bool recover = false)
        where T : class
    {
        DeploymentRuntime first;
        try
        {
            first = Choose(group, state);
        }
        catch (ProviderException failed) when (recover)
        {
            return RunLoopAsync(group, state, operation, failed);
        }
        catch (Exception ex)
        {
            return Task.FromException<(T, DeploymentRuntime)>(ex);
        }

        return Hedges(group, state)
            ? HedgeAsync(group, first, state, operation, cancellationToken)
            : RunOneAsync(group, state, operation, NewControl(first, operation, cancellationToken), hedged: false, cancellationToken, recover);
    }

    /// <summary>The deployment for an attempt, once the call's deadline leaves it time; throws when none is available.</summary>
    private static DeploymentRuntime Choose(ModelGroup group, CallState state)
    {
        EnsureBudget(group, state);
        return RouteSelector.Choose(group, state)
            ?? throw new ProviderException(ProviderErrorKind.Overloaded, $"No deployment of '{group.Name}' is available (circuits open).");
    }

    private static bool Hedges(ModelGroup group, CallState state)
        => group.Options.Hedging.Enabled && state.Request.Routing is not { DisableHedging: true } && group.Deployments.Length >= 2;

    /// <summary>The control of an unhedged attempt.</summary>
    private AttemptControl NewControl<T>(DeploymentRuntime deployment, IAttemptOperation<T> operation, CancellationToken cancellationToken)
        where T : class
    {
        // A unary attempt on an adapter that ends the call at ProviderCall.Timeout itself needs
        // no cancellation source of its own: no timer of ours, no hedge to abandon it, only the
        // caller can cancel it. A stream keeps one (its first-token timer, then the handle's
        // cancellation), and so does a test's clock (its timer fires when the clock moves).
        var own = operation.IsStream || !deployment.Adapter.EnforcesTimeout || !ReferenceEquals(timeProvider, TimeProvider.System);
        return new AttemptControl(deployment, own ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken) : null, cancellationToken);
    }

    private async Task<(T Result, DeploymentRuntime Served)> HedgeAsync<T>(ModelGroup group, DeploymentRuntime first, CallState state, IAttemptOperation<T> operation, CancellationToken cancellationToken)
        where T : class
    {
        var options = group.Options.Hedging;
        var running = new List<(Task<(T Result, DeploymentRuntime Served)> Task, AttemptControl Control)>();
        var deployments = new List<DeploymentRuntime>();
        void Start(DeploymentRuntime deployment, bool hedged)
        {
            var control = new AttemptControl(deployment, CancellationTokenSource.CreateLinkedTokenSource(cancellationToken), cancellationToken);
            deployments.Add(deployment);
            running.Add((RunOneAsync(group, state, operation, control, hedged, cancellationToken), control));
            if (hedged)
            {
                Log.Hedging(logger, group.Name, deployment.Info.Name);
                telemetry.Hedge(group.Name, deployment.Info.Name);
            }
        }

        Start(first, hedged: false);
        var hedges = 0;
        Exception? lastError = null;
        try
        {
            while (true)
            {
                using var delayCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var canHedge = hedges < options.MaxHedges;
                var delay = canHedge
                    ? Task.Delay(HedgeDelay(options, first, operation), timeProvider, delayCts.Token)
                    : Task.Delay(Timeout.InfiniteTimeSpan, delayCts.Token);
                var tasks = new List<Task>(running.Count + 1);
                foreach (var r in running)
                {
                    tasks.Add(r.Task);
                }

                tasks.Add(delay);
                var done = await Task.WhenAny(tasks).ConfigureAwait(false);
                await delayCts.CancelAsync().ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (done == delay)
                {
                    var next = RouteSelector.Choose(group, state, deployments);
                    hedges++;
                    if (next is not null)
                    {
                        Start(next, hedged: true);
                    }

                    continue;
                }

                var index = running.FindIndex(r => r.Task == done);
                var finished = running[index];
                running.RemoveAt(index);
                if (finished.Task.IsCompletedSuccessfully)
                {
                    return finished.Task.Result;
                }

                lastError = finished.Task.Exception?.InnerException
                    ?? (finished.Task.IsCanceled ? new ProviderException(ProviderErrorKind.Timeout, $"The attempt on '{finished.Control.Deployment.Info.Name}' was cancelled before it answered.") : lastError);
                if (running.Count == 0)
                {
                    // Everything in flight failed: hedge at once if allowed, else report.
                    var next = hedges < options.MaxHedges ? RouteSelector.Choose(group, state, deployments) : null;
                    if (next is null)
                    {
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(lastError
                            ?? new ProviderException(ProviderErrorKind.Overloaded, $"No attempt on '{group.Name}' gave an answer."));
                    }

                    hedges++;
                    Start(next!, hedged: true);
                }
            }
        }
        finally
        {
            // Losers are cancelled (their upstream requests aborted) and their results discarded.
            foreach (var (task, control) in running)
            {
                control.Abandon();
                if (control.Attempt is { } abandoned)
                {
                    state.Complete(abandoned, AttemptOutcome.Cancelled, timeProvider.GetElapsedTime(control.Started));
                }

                _ = task.ContinueWith(
                    static (t, s) =>
                    {
                        var (op, dispatcher) = ((IAttemptOperation<T>, Dispatcher))s!;
                        if (t.IsCompletedSuccessfully)
                        {
                            op.Discard(t.Result.Result, dispatcher);
                        }
                        else
                        {
                            _ = t.Exception;
                        }
                    },
                    (operation, this),
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }
        }
    }

    private static TimeSpan HedgeDelay<T>(Configuration.HedgingOptions options, DeploymentRuntime first, IAttemptOperation<T> operation)
        where T : class
        => options.Adaptive && first.P95(operation.IsStream) is { } p95 ? p95 : TimeSpan.FromMilliseconds(options.DelayMs);

    /// <summary>Runs one attempt on one deployment through its circuit breaker, with its own timeout.</summary>
    /// <param name="recover">
    /// The call's first attempt, started by <see cref="RunAsync{T}"/> without a loop around it: a
    /// provider failure goes on to retries and fallbacks (<see cref="RunLoopAsync{T}"/>) from here,
    /// once this attempt has released what it held.
    /// </param>
    private async Task<(T Result, DeploymentRuntime Served)> RunOneAsync<T>(ModelGroup group, CallState state, IAttemptOperation<T> operation, AttemptControl control, bool hedged, CancellationToken callerToken, bool recover = false)
        where T : class
    {
        ProviderException? failed;
        try
        {
            var deployment = control.Deployment;
            var attempt = state.NewAttempt(deployment, hedged);
            control.Attempt = attempt;
            control.Started = timeProvider.GetTimestamp();
            DeploymentReservation? reservation = null;
            var entered = false;
            var adopted = false;
            var cutOff = false;
            // What an answer that lost a hedge reported using (-1: none came back, or it did not say).
            long usedTokens = -1;
            try
            {
                // The deployment's own limits first (a Redis round trip when shared): the attempt's
                // timer starts only once the request can actually go upstream.
                reservation = await ReserveDeploymentLimitsAsync(deployment, state, callerToken).ConfigureAwait(false);
                var limit = TimeSpan.FromMilliseconds(operation.IsStream ? group.Options.Timeouts.FirstTokenMs : group.Options.Timeouts.AttemptMs);
                var remaining = state.Remaining;
                if (remaining != Timeout.InfiniteTimeSpan && remaining < limit)
                {
                    limit = remaining > TimeSpan.Zero ? remaining : TimeSpan.FromMilliseconds(1);
                }

                // The limit also travels with a unary call: an adapter that enforces it (EnforcesTimeout)
                // ends the call there itself, and the gRPC one tells its upstream as grpc-timeout.
                control.StartTimer(limit, timeProvider);
                var call = new ProviderCall(state.Continuation is { } prefix ? prefix.RequestFor(state.Request, deployment.Info.Provider) : state.Request, deployment.Info)
                {
                    Timeout = operation.IsStream ? null : limit,
                };
                deployment.Enter();
                entered = true;
                T result;
                if (deployment.ReportsAfter)
                {
                    // A closed circuit: the call runs here and its outcome is reported to the breaker
                    // afterwards (no breaker execution held open for the whole upstream call).
                    Exception? failure = null;
                    result = null!;
                    try
                    {
                        result = await operation.StartAsync(deployment, call, control.Token).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        failure = AttemptFailure(ex, operation, deployment, control, callerToken, limit);
                    }

                    await deployment.ReportAsync(failure is null ? Outcome.FromResult<object>(result) : Outcome.FromException<object>(failure)).ConfigureAwait(false);
                    if (failure is not null)
                    {
                        ExceptionDispatchInfo.Throw(failure);
                    }
                }
                else
                {
                    // Open or half-open: Polly decides whether this call is let through (the probe) and
                    // refuses the others with BrokenCircuitException.
                    result = await ThroughBreakerAsync(operation, deployment, call, control, callerToken, limit).ConfigureAwait(false);
                }

                var elapsed = timeProvider.GetElapsedTime(control.Started);
                if (control.Abandoned)
                {
                    // A hedge won while this one was finishing: let the coordinator discard it. What
                    // it reported using is what its deployment is charged.
                    state.Complete(attempt, AttemptOutcome.Cancelled, elapsed);
                    usedTokens = operation.UsedTokens(result) ?? -1;
                    return (result, deployment);
                }

                // A stream's attempt goes on after its first event: its span ends with the stream.
                state.Complete(attempt, AttemptOutcome.Success, elapsed, endTrace: !operation.IsStream);
                if (operation.IsStream)
                {
                    deployment.RecordFirstToken(elapsed);
                }
                else
                {
                    deployment.RecordLatency(elapsed);
                }

                adopted = true;
                control.TokenReservation = reservation;
                return (operation.Adopt(result, control, attempt, state, this), deployment);
            }
            catch (OperationCanceledException) when (control.Abandoned || callerToken.IsCancellationRequested)
            {
                state.Complete(attempt, AttemptOutcome.Cancelled, timeProvider.GetElapsedTime(control.Started));
                throw;
            }
            catch (OperationCanceledException)
            {
                // Cancelled by nobody on the call's side, outside the breaker (a limit store whose own
                // client gave up, the attempt's timer firing before the breaker ran): an attempt that
                // gave no answer in time, never the caller's cancellation and never an internal error.
                state.Complete(attempt, AttemptOutcome.Failed, timeProvider.GetElapsedTime(control.Started), "timeout");
                state.MarkFailed(deployment);
                var timeout = new ProviderException(ProviderErrorKind.Timeout, $"The attempt on '{deployment.Info.Name}' was cancelled before it answered (not by the caller).");
                Log.AttemptFailed(logger, deployment.Info.Name, timeout.KindName, timeout.Message);
                throw timeout;
            }

            catch (BrokenCircuitException)
            {
                state.Complete(attempt, AttemptOutcome.Failed, timeProvider.GetElapsedTime(control.Started), "circuit_open");
                state.MarkFailed(deployment);
                throw new ProviderException(ProviderErrorKind.Overloaded, $"Circuit of '{deployment.Info.Name}' is open.");
            }
            catch (ProviderException error)
            {
                // Without a source of our own, the adapter's timeout is the attempt's: cut off while working.
                cutOff = !control.HasOwnCancellation && error.Kind == ProviderErrorKind.Timeout;
                state.Complete(attempt, AttemptOutcome.Failed, timeProvider.GetElapsedTime(control.Started), error.KindName);
                state.MarkFailed(deployment);
                Log.AttemptFailed(logger, deployment.Info.Name, error.KindName, error.Message);
                throw;
            }
            finally
            {
                // An adopted stream keeps its slot and cancellation until the handle is disposed.
                if (!adopted || !operation.IsStream)
                {
                    if (entered)
                    {
                        deployment.Exit();
                    }

                    control.Dispose();
                }

                if (!adopted && reservation is not null)
                {
                    // An attempt whose answer is not used gives its reservation back: all of it when
                    // the provider answered with an error (nothing was generated), all but the prompt
                    // when it was cut off while working (timed out, lost a hedge, cancelled), all but
                    // its reported usage when it answered after losing a hedge.
                    var keep = usedTokens >= 0 ? usedTokens : (entered && (control.Cancelled || cutOff) ? reservation.PromptEstimate : 0);
                    ObserveSettle(SettleAsync(reservation, keep));
                }
            }
        }
        catch (ProviderException error) when (recover)
        {
            // The attempt's own finally has run: its slot, cancellation and reservation are released.
            failed = error;
        }

        return await RunLoopAsync(group, state, operation, failed).ConfigureAwait(false);
    }

    /// <summary>
    /// An attempt on a circuit that is not closed, inside the breaker (Outcome-based: no exception
    /// bridge). Its failure, or the breaker's refusal (BrokenCircuitException), is thrown.
    /// </summary>
    private static async Task<T> ThroughBreakerAsync<T>(IAttemptOperation<T> operation, DeploymentRuntime deployment, ProviderCall call, AttemptControl control, CancellationToken callerToken, TimeSpan limit)
        where T : class
    {
        var context = ResilienceContextPool.Shared.Get(control.Token);
        try
        {
            var outcome = await deployment.Circuit.ExecuteOutcomeAsync(
                BreakerCallAsync,
                context,
                (Operation: operation, Deployment: deployment, Call: call, Control: control, CallerToken: callerToken, Limit: limit)).ConfigureAwait(false);
            outcome.ThrowIfException();
            return (T)outcome.Result!;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>The provider call inside the deployment's circuit breaker; every failure becomes its outcome.</summary>
    private static async ValueTask<Outcome<object>> BreakerCallAsync<T>(ResilienceContext context, (IAttemptOperation<T> Operation, DeploymentRuntime Deployment, ProviderCall Call, AttemptControl Control, CancellationToken CallerToken, TimeSpan Limit) s)
        where T : class
    {
        try
        {
            return Outcome.FromResult<object>(await s.Operation.StartAsync(s.Deployment, s.Call, context.CancellationToken).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            return Outcome.FromException<object>(AttemptFailure(ex, s.Operation, s.Deployment, s.Control, s.CallerToken, s.Limit));
        }
    }

    /// <summary>
    /// What a failed provider call counts as, before the breaker sees it: a cancellation that was
    /// not the caller's (nor a hedge abandoning the attempt) is a timeout, so that it counts
    /// against the deployment.
    /// </summary>
    private static Exception AttemptFailure<T>(Exception error, IAttemptOperation<T> operation, DeploymentRuntime deployment, AttemptControl control, CancellationToken callerToken, TimeSpan limit)
        where T : class
        => error switch
        {
            // The attempt's own timer.
            OperationCanceledException when control.TimedOut => new ProviderException(ProviderErrorKind.Timeout, $"No {(operation.IsStream ? "first token" : "response")} from '{deployment.Info.Name}' within {limit.TotalMilliseconds:0} ms."),

            // Cancelled by nobody here (an adapter's or handler's own timeout): an attempt that
            // gave no answer in time, never a cancellation of the caller's call.
            OperationCanceledException when !control.Abandoned && !callerToken.IsCancellationRequested => new ProviderException(ProviderErrorKind.Timeout, $"'{deployment.Info.Name}' gave no answer in time (its request was cancelled by its own timeout)."),
            _ => error,
        };

    /// <summary>Runs a settlement nobody waits for, logging (not dropping) its failure.</summary>
    internal void ObserveSettle(ValueTask settle)
    {
        if (settle.IsCompletedSuccessfully)
        {
            return;
        }

        _ = ObserveAsync(settle);

        async Task ObserveAsync(ValueTask pending)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.SettleFailed(logger, ex);
            }
        }
    }

    /// <summary>
    /// Keeps the gateway under a deployment's own RPM/TPM (the provider's limits): a deployment at
    /// its limit is refused locally, as if it had answered 429, so routing moves on without
    /// sending anything upstream.
    /// </summary>
    private async ValueTask<DeploymentReservation?> ReserveDeploymentLimitsAsync(DeploymentRuntime deployment, CallState state, CancellationToken cancellationToken)
    {
        if (deployment.RequestsPerMinute is null && deployment.TokensPerMinute is null)
        {
            return null;
        }

        var scope = "deployment:" + deployment.Info.Name;
        if (deployment.RequestsPerMinute is { } rpm)
        {
            var result = await limits.TryAcquireAsync(new LimitRequest(scope + ":rpm", LimitKind.Requests, rpm, 1, governance.DefaultAlgorithm, ""), cancellationToken).ConfigureAwait(false);
            if (!result.Allowed)
            {
                throw LocallyLimited(deployment, "requests", result);
            }
        }

        if (deployment.TokensPerMinute is { } tpm)
        {
            var request = state.Request;
            var prompt = governance.CountPromptTokens(request);
            var estimate = prompt + governance.OutputReservation(request);
            var result = await limits.TryAcquireAsync(new LimitRequest(scope + ":tpm", LimitKind.Tokens, tpm, estimate, governance.DefaultAlgorithm, ""), cancellationToken).ConfigureAwait(false);
            if (!result.Allowed)
            {
                throw LocallyLimited(deployment, "tokens", result);
            }

            return new DeploymentReservation(scope + ":tpm", tpm, result.Reservation, estimate, prompt);
        }

        return null;
    }

    private static ProviderException LocallyLimited(DeploymentRuntime deployment, string unit, LimitResult result)
    {
        // Recorded as a failed attempt (rate_limited) by RunOneAsync. No retry-after: the wait applies to this deployment only, and the retry goes elsewhere.
        return new ProviderException(ProviderErrorKind.RateLimited, $"Deployment '{deployment.Info.Name}' is at its configured {unit}-per-minute limit (free again in {result.RetryAfter.TotalSeconds:0.#} s).");
    }

    /// <summary>Settles a deployment token reservation with the attempt's actual usage.</summary>
    internal ValueTask SettleAsync(DeploymentReservation? reservation, long actualTokens)
        => reservation is { } r
            ? limits.AdjustTokensAsync(r.Key, r.Limit, governance.DefaultAlgorithm, r.Reservation, actualTokens - r.Estimate, CancellationToken.None)
            : ValueTask.CompletedTask;

    private static void EnsureBudget(ModelGroup group, CallState state)
    {
        state.CancellationToken.ThrowIfCancellationRequested();
        var minimum = TimeSpan.FromMilliseconds(group.Options.Timeouts.MinAttemptBudgetMs);
        if (!state.HasBudgetFor(minimum))
        {
            throw new RpcException(
                new Status(StatusCode.DeadlineExceeded, $"Deadline exceeded: {Math.Max(0, state.Remaining.TotalMilliseconds):0} ms left, below the {minimum.TotalMilliseconds:0} ms an attempt needs."),
                new Metadata { { ErrorMapping.AttemptsTrailer, state.AttemptsTrailer() } });
        }
    }

    /// <summary>The final error of a call: the last provider error, with every attempt in the trailers.</summary>
    private static RpcException Fail(ProviderException error, CallState state)
    {
        var rpc = ErrorMapping.ToRpcException(error, $"model '{state.Request.Model}'");
        var attempts = state.AttemptsTrailer();
        if (attempts.Length > 0)
        {
            rpc.Trailers.Add(ErrorMapping.AttemptsTrailer, attempts);
        }

        return rpc;
    }

    private static partial class Log
    {
        [LoggerMessage(210, LogLevel.Information, "Model {Model} failed ({Kind}); falling back to {Fallback}.", EventName = "FallingBack")]
        public static partial void FallingBack(ILogger logger, string model, string fallback, string kind);

        [LoggerMessage(211, LogLevel.Debug, "Hedging {Model} on {Deployment}.", EventName = "Hedging")]
        public static partial void Hedging(ILogger logger, string model, string deployment);

        [LoggerMessage(212, LogLevel.Information, "Attempt on {Deployment} failed ({Kind}): {Message}", EventName = "AttemptFailed")]
        public static partial void AttemptFailed(ILogger logger, string deployment, string kind, string message);

        [LoggerMessage(213, LogLevel.Error, "Settling a deployment token reservation, or releasing a stream no caller uses, failed.", EventName = "SettleFailed")]
        public static partial void SettleFailed(ILogger logger, Exception exception);
    }
}

/// <summary>
/// One attempt's cancellation: the caller's token, its own timeout, and abandonment by a winning
/// hedge. Without a source of its own (<paramref name="cts"/> null: a unary attempt whose adapter
/// enforces the timeout, never hedged) it is the caller's token alone and has no timer.
/// </summary>
internal sealed class AttemptControl(DeploymentRuntime deployment, CancellationTokenSource? cts, CancellationToken callerToken) : IDisposable
{
    private volatile bool _abandoned;
    private ITimer? _timer;

    public DeploymentRuntime Deployment { get; } = deployment;

    /// <summary>What the attempt's work is cancelled by.</summary>
    public CancellationToken Token => cts?.Token ?? callerToken;

    /// <summary>True when the attempt has a cancellation source (and so a timer) of its own.</summary>
    public bool HasOwnCancellation => cts is not null;

    /// <summary>True once the attempt was cancelled: by the caller, its timer or a winning hedge.</summary>
    public bool Cancelled => cts?.IsCancellationRequested ?? callerToken.IsCancellationRequested;

    public bool Abandoned => _abandoned;

    public Attempt? Attempt { get; set; }

    public DeploymentReservation? TokenReservation { get; set; }

    public long Started { get; set; }

    public void Abandon()
    {
        _abandoned = true;
        try
        {
            cts?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Cancelled by its own timer: not by the caller, not abandoned.</summary>
    public bool TimedOut => cts is { IsCancellationRequested: true } && !_abandoned && !callerToken.IsCancellationRequested;

    /// <summary>
    /// Starts the attempt's timeout on the dispatcher's clock (nothing without a source of its
    /// own: the adapter enforces the limit). The system clock keeps the token source's own timer
    /// (no extra allocation per attempt); any other clock (a test's) gets a timer of its own, so a
    /// timeout can be reached by moving that clock instead of waiting.
    /// </summary>
    public void StartTimer(TimeSpan limit, TimeProvider timeProvider)
    {
        if (cts is null)
        {
            return;
        }

        if (ReferenceEquals(timeProvider, TimeProvider.System))
        {
            cts.CancelAfter(limit);
            return;
        }

        _timer = timeProvider.CreateTimer(static state => ((AttemptControl)state!).Expire(), this, limit, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Stops the timeout: from here on only the caller's deadline bounds the attempt.</summary>
    public void StopTimer()
    {
        cts?.CancelAfter(Timeout.InfiniteTimeSpan);
        _timer?.Dispose();
    }

    private void Expire()
    {
        try
        {
            cts?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _timer?.Dispose();
        cts?.Dispose();
    }
}

/// <summary>A token reservation against a deployment's TPM, settled with the attempt's actual usage.</summary>
internal sealed record DeploymentReservation(string Key, long Limit, long Reservation, long Estimate, long PromptEstimate);

/// <summary>What an attempt does: a unary call or opening a stream up to its first event.</summary>
internal interface IAttemptOperation<T>
    where T : class
{
    bool IsStream { get; }

    Task<T> StartAsync(DeploymentRuntime deployment, ProviderCall call, CancellationToken cancellationToken);

    /// <summary>The winner takes over the attempt (a stream keeps its cancellation alive).</summary>
    T Adopt(T result, AttemptControl control, Attempt attempt, CallState state, Dispatcher dispatcher);

    /// <summary>Releases a result nobody will use (a hedge that lost the race); a failure is logged through <paramref name="dispatcher"/>, not dropped.</summary>
    void Discard(T result, Dispatcher dispatcher);

    /// <summary>The tokens a finished result reports having used (input + output); null when it does not say (a stream after its first event).</summary>
    long? UsedTokens(T result);
}

internal sealed class UnaryOperation : IAttemptOperation<CompletionResponse>
{
    public static readonly UnaryOperation Instance = new();

    public bool IsStream => false;

    public Task<CompletionResponse> StartAsync(DeploymentRuntime deployment, ProviderCall call, CancellationToken cancellationToken)
        => deployment.Adapter.CompleteAsync(call, cancellationToken);

    public CompletionResponse Adopt(CompletionResponse result, AttemptControl control, Attempt attempt, CallState state, Dispatcher dispatcher)
    {
        if (control.TokenReservation is { } reservation)
        {
            var usage = result.Usage;
            dispatcher.ObserveSettle(dispatcher.SettleAsync(reservation, usage is null ? reservation.Estimate : usage.InputTokens + usage.OutputTokens));
        }

        return result;
    }

    public void Discard(CompletionResponse result, Dispatcher dispatcher)
    {
    }

    public long? UsedTokens(CompletionResponse result) => result.Usage is { } usage ? usage.InputTokens + usage.OutputTokens : null;
}

internal sealed class StreamOperation : IAttemptOperation<StreamHandle>
{
    public static readonly StreamOperation Instance = new();

    public bool IsStream => true;

    public async Task<StreamHandle> StartAsync(DeploymentRuntime deployment, ProviderCall call, CancellationToken cancellationToken)
    {
        var events = deployment.Adapter.StreamAsync(call, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            if (!await events.MoveNextAsync().ConfigureAwait(false))
            {
                throw new ProviderException(ProviderErrorKind.StreamInterrupted, "The upstream stream ended before its first event.");
            }

            return new StreamHandle(deployment, events, events.Current);
        }
        catch
        {
            await events.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public StreamHandle Adopt(StreamHandle result, AttemptControl control, Attempt attempt, CallState state, Dispatcher dispatcher)
    {
        // From here on only the caller's deadline bounds the stream.
        control.StopTimer();
        result.Attach(control, attempt, state, dispatcher);
        return result;
    }

    public void Discard(StreamHandle result, Dispatcher dispatcher) => dispatcher.ObserveSettle(result.DisposeAsync());

    public long? UsedTokens(StreamHandle result) => null;
}

/// <summary>A stream committed to one deployment, positioned after its first event.</summary>
internal sealed class StreamHandle(DeploymentRuntime deployment, IAsyncEnumerator<CompletionChunk> events, CompletionChunk first) : IAsyncDisposable
{
    private AttemptControl? _control;
    private Attempt? _attempt;
    private CallState? _state;
    private long _started;
    private TimeProvider? _timeProvider;
    private int _disposed;
    private int _settled;
    private long _outputPieces;

    public DeploymentRuntime Deployment { get; } = deployment;

    public CompletionChunk First { get; } = first;

    public IAsyncEnumerator<CompletionChunk> Events { get; } = events;

    private Dispatcher? _dispatcher;

    internal void Attach(AttemptControl control, Attempt attempt, CallState state, Dispatcher dispatcher)
    {
        _dispatcher = dispatcher;
        _timeProvider = dispatcher.TimeProvider;
        _control = control;
        _attempt = attempt;
        _state = state;
        _started = _timeProvider.GetTimestamp();
    }

    /// <summary>Ends the committed attempt and returns the routing of the whole call.</summary>
    public RoutingInfo Finish(AttemptOutcome outcome, string? error = null)
    {
        if (_state is null || _attempt is null)
        {
            return new RoutingInfo { Deployment = Deployment.Info.Name, Provider = Deployment.Info.Provider };
        }

        // The attempt's latency becomes the whole stream's duration (first token + the rest).
        _state.Complete(_attempt, outcome, _attempt.Latency.ToTimeSpan() + _timeProvider!.GetElapsedTime(_started), error);
        return _state.Routing(Deployment);
    }

    public string AttemptsTrailer() => _state?.AttemptsTrailer() ?? "";

    /// <summary>The call's dispatch state (null before the handle is adopted).</summary>
    internal CallState? State => _state;

    /// <summary>Reports the stream's usage so the deployment's token reservation is settled.</summary>
    public ValueTask ReportUsageAsync(long tokens)
        => _dispatcher is not null && _control?.TokenReservation is { } reservation && Interlocked.Exchange(ref _settled, 1) == 0
            ? _dispatcher.SettleAsync(reservation, tokens)
            : ValueTask.CompletedTask;

    /// <summary>
    /// Counts an output event the caller was given from this stream: what the deployment is
    /// charged when the stream ends without reporting its usage (cut off, failed, taken over).
    /// </summary>
    internal void CountOutput() => _outputPieces++;

    /// <summary>Every attempt of the call so far.</summary>
    public RoutingInfo Routing => _state?.Routing(Deployment) ?? new RoutingInfo { Deployment = Deployment.Info.Name, Provider = Deployment.Info.Provider };

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            if (_state is not null && _attempt is not null)
            {
                // Ended without Finish (the write to the caller failed): the attempt was cut short.
                _state.EndTrace(_attempt, AttemptOutcome.Cancelled, _attempt.Latency.ToTimeSpan() + _timeProvider!.GetElapsedTime(_started), null);
            }

            _control?.Abandon();
            await Events.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ProviderException or IOException)
        {
            // Tearing down a stream whose upstream already failed or was cancelled.
        }
        finally
        {
            if (_control is not null)
            {
                Deployment.Exit();
                _control.Dispose();
                if (_control.TokenReservation is { } reservation && Interlocked.Exchange(ref _settled, 1) == 0)
                {
                    // Ended without a usage event (the upstream failed mid-way, a continuation took
                    // over, the caller went away): the deployment keeps the prompt and the output it
                    // produced, and the rest of the reservation comes back, as for a cut-off attempt.
                    _dispatcher!.ObserveSettle(_dispatcher.SettleAsync(reservation, reservation.PromptEstimate + _outputPieces));
                }
            }
        }
    }
}

/// <summary>An attempt's answer and the deployment that gave it, as the retry pipeline's (reference) result.</summary>
internal sealed class Served<T>((T Result, DeploymentRuntime Served) value)
    where T : class
{
    public (T Result, DeploymentRuntime Served) Value { get; } = value;
}
