using Gateway.Grpc.Adapters;
using Gateway.Grpc.Caching;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Guardrails;
using Gateway.Grpc.Server.Routing;
using Gateway.Grpc.Server.Services;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Pipeline;

/// <summary>
/// The one completion pipeline behind both front doors (gateway.v1.Completion over gRPC and
/// gRPC-Web, and the OpenAI REST endpoints): telemetry, validation, authentication, model
/// resolution, admission (limits and budgets), dispatch, settlement, and the stream contract.
/// Failures leave as <see cref="RpcException"/> with the gateway's trailers; each door renders
/// them in its own shape.
/// </summary>
internal sealed partial class CompletionPipeline(ModelCatalog catalog, Dispatcher dispatcher, GovernanceService governance, ContextWindowGuard contextWindows, GatewayOptions options, TimeProvider timeProvider, CompletionTelemetry telemetry, GatewayMetrics metrics, TenantBodyCapturePolicy bodyPolicy, ResponseCache cache, GuardrailService guardrails, ResponseFormatGuard responseFormat, TaskRouting taskRouting, ILogger<CompletionPipeline> logger)
{
    public const string RequestIdHeader = CallerHeaders.RequestIdHeader;

    /// <summary>
    /// A unary completion. One method, one state machine per call: telemetry around admission,
    /// cache, dispatch and settlement (the outer catch), the admission's settlement on a failure
    /// (the inner one).
    /// </summary>
    public async Task<CompletionResponse> CompleteAsync(CompletionRequest request, CompletionCall call)
    {
        var observed = telemetry.Begin(call, request, stream: false);
        try
        {
            var directive = ReadCacheDirective(call);
            await AdmitAsync(request, call, observed, stream: false).ConfigureAwait(false);
            CompletionResponse response;
            try
            {
                var plan = PlanCache(request, call.Group, call.Admission, directive, call);
                if (await TryCacheHitAsync(plan, request, call.Admission, observed, call).ConfigureAwait(false) is { } hit)
                {
                    response = hit.Response;
                    response.Id = call.RequestId;
                    response.Created = timeProvider.GetUtcNow().ToUnixTimeSeconds();
                }
                else
                {
                    CascadeRun? cascade = null;
                    RoutingInfo routing;
                    if (call.Group.Kind == ModelKind.Cascade)
                    {
                        cascade = await CascadeAsync(call.Group, request, call, call.Fit).ConfigureAwait(false);
                        (response, routing) = (cascade.Response!, cascade.Routing!);
                    }
                    else if (responseFormat.Applies(request))
                    {
                        (response, routing) = await DispatchWithResponseFormatAsync(request, call, call.Fit, call.Group, call.RequestId).ConfigureAwait(false);
                    }
                    else
                    {
                        // Inline, not through DispatchOnceAsync: one state machine (and no closure) less per call.
                        var state = dispatcher.NewCall(request, call.Deadline, call.CancellationToken, call.Fit);
                        (response, var served) = await dispatcher.CompleteAsync(call.Group, state).ConfigureAwait(false);
                        routing = state.Routing(served, finished: true);
                    }

                    call.Notes?.ApplyTo(routing);
                    response.Id = call.RequestId;
                    response.Created = timeProvider.GetUtcNow().ToUnixTimeSeconds();
                    response.Routing = routing;
                    await AnswerAsync(request, call, response, routing, cascade, plan).ConfigureAwait(false);
                }
            }
            catch (Exception ex)
            {
                // Nothing was served: the admission is settled with the failure (a no-op when the
                // answer phase already settled it with what was served).
                await call.Admission.CompleteAsync(new CallOutcome { Status = StatusOf(ex, call) }).ConfigureAwait(false);
                throw;
            }

            observed.OnResponse(response);
            observed.Complete(StatusCode.OK);
            return response;
        }
        catch (Exception ex)
        {
            if (Failed(observed, ex, call) is { } mapped)
            {
                throw mapped;
            }

            throw;
        }
    }

    /// <summary>
    /// A unary answer's last phase: output guardrails, settlement, cache. Its own method so that
    /// the outcome (a value) lives in this state machine, which completes at once when nothing
    /// here waits, and not in the caller's, which is on the heap for the whole call.
    /// </summary>
    private async ValueTask AnswerAsync(CompletionRequest request, CompletionCall call, CompletionResponse response, RoutingInfo routing, CascadeRun? cascade, CachePlan plan)
    {
        var usage = response.Usage ??= new Usage();
        var outcome = Outcome(routing, StatusCode.OK, usage.InputTokens, usage.OutputTokens, usage.CachedInputTokens, usage.Estimated, request, cascade?.Served ?? call.Group, null);
        if (cascade is not null)
        {
            outcome = outcome with { OtherUsage = cascade.Others };
        }

        try
        {
            if (call.Guard is not null)
            {
                // Output guardrails. A blocked answer is still billed (settled below with the block's status).
                await call.Guard.ApplyOutputAsync(response).ConfigureAwait(false);
            }

            await call.Admission.CompleteAsync(outcome).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await call.Admission.CompleteAsync(outcome with { Status = StatusOf(ex, call) }).ConfigureAwait(false);
            throw;
        }

        cascade?.AddOthersTo(usage);
        usage.CostUsd = (double)call.Admission.CostUsd;
        await CacheUnaryAsync(plan, response).ConfigureAwait(false);
    }

    /// <summary>
    /// A streamed completion. Retries, fallback and hedging are transparent until the first
    /// event; the stream's contract: OK only after <c>finish</c>; an upstream failure after output
    /// began becomes an <c>error</c> event and a non-OK status, never a finish. One method, one
    /// state machine held by every open stream (telemetry, admission, cache, dispatch, pump).
    /// </summary>
    public async Task StreamAsync(CompletionRequest request, ICompletionEventWriter events, CompletionCall call)
    {
        var observed = telemetry.Begin(call, request, stream: true);
        var model = observed.ModelLabel;
        metrics.StreamStarted(model);
        try
        {
            ICompletionEventWriter stream = new ObservingWriter(events, observed);
            var directive = ReadCacheDirective(call);
            await AdmitAsync(request, call, observed, stream: true).ConfigureAwait(false);
            var token = call.CancellationToken;
            CachePlan plan;
            CacheHit? hit;
            try
            {
                plan = PlanCache(request, call.Group, call.Admission, directive, call);
                hit = await TryCacheHitAsync(plan, request, call.Admission, observed, call).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                await call.Admission.CompleteAsync(new CallOutcome { Status = StatusOf(ex, call) }).ConfigureAwait(false);
                throw;
            }

            if (hit is not null)
            {
                await ReplayAsync(hit, call.RequestId, call.Guard is null ? stream : call.Guard.Wrap(stream), token).ConfigureAwait(false);
                observed.Complete(StatusCode.OK);
                return;
            }

            // The cache records what the caller is sent (after the output guardrails, masked values
            // restored), so the recorder sits between the guardrails and the caller.
            var recorder = plan.Status == CacheStatus.Unspecified ? null : new CacheRecordingWriter(stream, plan);
            stream = recorder ?? stream;
            if (responseFormat.Applies(request))
            {
                // Checks the text the caller was sent (after the guardrails); an answer that fails the
                // schema ends in an error event, so the recorder never sees a finish and never caches it.
                stream = responseFormat.WrapStream(stream, request, call.RequestId);
            }

            if (call.Guard is not null)
            {
                // Output guardrails: text passes a bounded hold-back window on its way out.
                stream = call.Guard.Wrap(stream);
            }

            if (call.Group.Kind == ModelKind.Cascade)
            {
                await StreamCascadeAsync(call.Group, request, stream, call, call.Fit, call.RequestId, call.Admission, call.Notes).ConfigureAwait(false);
                observed.Complete(StatusCode.OK);
                return;
            }

            // Made only for model groups that continue streams: everyone else pays one field check.
            var takeover = call.Group.Options.Continuation.Enabled ? new StreamTakeover(call.Group, call.Group.Options.Continuation) : null;
            var started = timeProvider.GetTimestamp();
            long? ttft = null;
            Usage? usage = null;
            CallOutcome? served = null;
            var outputPieces = 0L;
            StreamHandle? handle = null;
            var status = StatusCode.Unknown;
            try
            {
                (handle, _) = await dispatcher.OpenStreamAsync(call.Group, request, call.Deadline, token, call.Fit).ConfigureAwait(false);
                ttft = (long)timeProvider.GetElapsedTime(started).TotalMilliseconds;
                await PumpAsync(handle, call.RequestId, stream, token, chunk =>
                {
                    if (chunk.EventCase == CompletionChunk.EventOneofCase.Usage)
                    {
                        usage = chunk.Usage;
                        var current = takeover?.Current ?? handle;
                        // The outcome is known from here on (no attempt starts after the first token,
                        // unless a continuation takes over, and then this is the last attempt's usage):
                        // priced before the event goes out, and settled with the same figures below.
                        var outcome = Outcome(current.Routing, StatusCode.OK, usage.InputTokens, usage.OutputTokens, usage.CachedInputTokens, usage.Estimated, request, call.Group, ttft);
                        dispatcher.ObserveSettle(current.ReportUsageAsync(usage.InputTokens + usage.OutputTokens));
                        if (takeover?.Prior is { } prior)
                        {
                            outcome = outcome with { OtherUsage = prior };
                            takeover.AddPriorTo(usage);
                        }

                        usage.CostUsd = (double)governance.CostOf(request, outcome);
                        served = outcome;
                    }
                    else if (chunk.EventCase is CompletionChunk.EventOneofCase.Delta or CompletionChunk.EventOneofCase.ToolCallDelta)
                    {
                        outputPieces++;
                    }
                }, takeover, call.Notes).ConfigureAwait(false);
                status = StatusCode.OK;
                if (served is { } priced)
                {
                    // The usage event already went out, priced from this outcome.
                    await call.Admission.CompleteAsync(priced).ConfigureAwait(false);
                }

                if (recorder?.Answer() is { } answer)
                {
                    await cache.StoreAsync(plan, answer).ConfigureAwait(false);
                }
            }
            catch (Exception ex)
            {
                status = StatusOf(ex, call);
                throw;
            }
            finally
            {
                if (handle is not null)
                {
                    await handle.DisposeAsync().ConfigureAwait(false);
                }

                if (takeover?.Current is { } continued)
                {
                    await continued.DisposeAsync().ConfigureAwait(false);
                    handle = continued;
                }

                if (status != StatusCode.OK || usage is null)
                {
                    // The provider served part of an answer (or did not say how much): count it ourselves.
                    var input = outputPieces > 0 || status == StatusCode.OK ? governance.Settings.CountPromptTokens(request) : 0;
                    await call.Admission.CompleteAsync(Outcome(handle?.Routing, status, usage?.InputTokens ?? input, usage?.OutputTokens ?? outputPieces, usage?.CachedInputTokens ?? 0, true, request, call.Group, ttft)).ConfigureAwait(false);
                }
            }

            observed.Complete(StatusCode.OK);
        }
        catch (Exception ex)
        {
            if (Failed(observed, ex, call) is { } mapped)
            {
                throw mapped;
            }

            throw;
        }
        finally
        {
            metrics.StreamEnded(model);
        }
    }

    /// <summary>
    /// Records a failed call and returns what a gRPC caller is answered instead of the exception
    /// (the interceptor's edge, <see cref="CompletionCall.GrpcEdge"/>), or null to rethrow it as it is.
    /// </summary>
    private Exception? Failed(CallTelemetry observed, Exception exception, CompletionCall call)
    {
        telemetry.Fail(observed, exception, call);
        return call.GrpcEdge?.Fail(call, exception) is { } mapped && !ReferenceEquals(mapped, exception) ? mapped : null;
    }

    /// <summary>One dispatch of a unary call, with a fresh call state.</summary>
    private async Task<(CompletionResponse Response, RoutingInfo Routing)> DispatchOnceAsync(CompletionRequest request, CompletionCall context, ContextFit fit, ModelGroup group)
    {
        var state = dispatcher.NewCall(request, context.Deadline, context.CancellationToken, fit);
        var (answer, served) = await dispatcher.CompleteAsync(group, state).ConfigureAwait(false);
        return (answer, state.Routing(served, finished: true));
    }

    /// <summary>A call with a response format: a reply that does not parse is dispatched again (see the response-format checker).</summary>
    private Task<(CompletionResponse Response, RoutingInfo Routing)> DispatchWithResponseFormatAsync(CompletionRequest request, CompletionCall context, ContextFit fit, ModelGroup group, string id)
        => responseFormat.CompleteAsync(request, () => DispatchOnceAsync(request, context, fit, group), id);

    private async Task PumpAsync(StreamHandle handle, string id, ICompletionEventWriter stream, CancellationToken token, Action<CompletionChunk> observe, StreamTakeover? takeover = null, RouteNotes? notes = null)
    {
        var deployment = handle.Deployment.Info;
        try
        {
            await stream.WriteAsync(new CompletionChunk
            {
                Start = new StreamStart
                {
                    Id = id,
                    Model = deployment.UpstreamModel,
                    Provider = deployment.Provider,
                    Deployment = deployment.Name,
                    Created = timeProvider.GetUtcNow().ToUnixTimeSeconds(),
                },
            }, token).ConfigureAwait(false);
            var chunk = handle.First;
            while (true)
            {
                observe(chunk);
                if (chunk.EventCase is CompletionChunk.EventOneofCase.Delta or CompletionChunk.EventOneofCase.ToolCallDelta)
                {
                    handle.CountOutput();
                }

                if (chunk.EventCase == CompletionChunk.EventOneofCase.Finish)
                {
                    chunk.Finish.Routing = handle.Finish(AttemptOutcome.Success);
                    takeover?.AddTo(chunk.Finish.Routing);
                    notes?.ApplyTo(chunk.Finish.Routing);
                    await stream.WriteAsync(chunk, token).ConfigureAwait(false);
                    return;
                }

                if (takeover is null || takeover.Pass(chunk))
                {
                    await stream.WriteAsync(chunk, token).ConfigureAwait(false);
                }

                try
                {
                    if (!await handle.Events.MoveNextAsync().ConfigureAwait(false))
                    {
                        throw new ProviderException(ProviderErrorKind.StreamInterrupted, "The upstream stream ended without its terminal event.");
                    }
                }
                catch (ProviderException ex) when (takeover is not null && takeover.CanContinue(ex))
                {
                    // Continuation: another deployment carries on from the text the caller has.
                    handle = await TakeOverAsync(takeover, handle, ex, stream, token).ConfigureAwait(false);
                    deployment = handle.Deployment.Info;
                    chunk = handle.First;
                    continue;
                }

                chunk = handle.Events.Current;
            }
        }
        catch (ProviderException ex)
        {
            // Output already reached the client: say why in-band, then fail the call.
            var routing = handle.Finish(AttemptOutcome.Failed, ex.KindName);
            takeover?.AddTo(routing);
            notes?.ApplyTo(routing);
            var rpc = ErrorMapping.ToRpcException(ex, $"deployment '{deployment.Name}'");
            rpc.Trailers.Add(ErrorMapping.AttemptsTrailer, handle.AttemptsTrailer());
            await stream.WriteAsync(new CompletionChunk
            {
                Error = new StreamError { Code = (int)rpc.StatusCode, Message = rpc.Status.Detail, Kind = ex.KindName, Routing = routing },
            }, token).ConfigureAwait(false);
            throw rpc;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            handle.Finish(AttemptOutcome.Cancelled);
            Log.StreamCancelled(logger, id);
            throw;
        }
    }

    /// <summary>
    /// Validation and size limits, authentication, model resolution, the context-window check
    /// (which may move the call to a context fallback), input guardrails, then admission (limits
    /// and budgets).
    /// </summary>
    /// <summary>
    /// Validation, authentication, model resolution, input guardrails and admission. What it
    /// decides goes on the call (<see cref="CompletionCall.Group"/> and the rest), not into a
    /// returned tuple: the callers' state machines then hold none of it as locals of their own.
    /// </summary>
    private async ValueTask AdmitAsync(CompletionRequest request, CompletionCall context, CallTelemetry observed, bool stream)
    {
        RequestValidator.Validate(request, options.RequestLimits);
        var principal = await governance.AuthenticateAsync(context.ApiKey, context.CancellationToken).ConfigureAwait(false);
        observed.SetCaller(principal.TeamId, principal.KeyId);
        bodyPolicy.Observe(principal);
        // Counted after authentication: only a caller the gateway accepts can make it tokenize.
        var resolved = Resolve(request);
        RouteNotes? notes = null;
        if (resolved.Kind == ModelKind.Router)
        {
            (resolved, notes) = RouteTask(resolved, request, observed);
        }

        var (group, fit) = resolved.Kind == ModelKind.Deployments ? contextWindows.Check(resolved, request) : (resolved, ContextFit.None);
        if (catalog.DeclaresCapabilities || catalog.DeclaresOutputLimits)
        {
            (group, fit) = MatchCapabilities(group, fit, request);
        }

        // Input guardrails before admission: a blocked request neither reaches a provider nor counts against limits.
        var guard = await guardrails.InspectAsync(request, principal, context, observed).ConfigureAwait(false);
        var id = context.RequestId;
        Admission admission;
        try
        {
            admission = await governance.AdmitAsync(principal, request, new CallInfo(id, context.Route, stream), context.CancellationToken).ConfigureAwait(false);
        }
        catch (RpcException refused) when (refused.StatusCode == StatusCode.ResourceExhausted)
        {
            if (refused.Trailers.GetValue(GovernanceService.ErrorKindTrailer) == "budget_exceeded")
            {
                metrics.RecordBudgetRefusal(principal.TeamId, "monthly");
            }
            else
            {
                metrics.RecordRateLimitRefusal(principal.TeamId, refused.Status.Detail.Contains("tokens", StringComparison.Ordinal) ? "tpm" : refused.Status.Detail.Contains("concurrent", StringComparison.Ordinal) ? "concurrency" : "rpm");
            }

            throw;
        }

        if (admission.HasHeaders)
        {
            var headers = context.Http.Response.Headers;
            foreach (var header in admission.Headers)
            {
                headers[header.Key] = header.Value;
            }
        }

        context.Admitted(group, fit, admission, guard, notes);
    }

    private CallOutcome Outcome(RoutingInfo? routing, StatusCode status, long input, long output, long cached, bool estimated, CompletionRequest request, ModelGroup group, long? ttft)
    {
        // Hedges that lost the race were still sent: their prompt was processed and is billed.
        long abandonedInput = 0;
        var attempts = 0;
        string? deployment = routing?.Deployment;
        if (routing is not null)
        {
            attempts = routing.Attempts.Count;
            for (var attemptIndex = 0; attemptIndex < routing.Attempts.Count; attemptIndex++)
            {
                var attempt = routing.Attempts[attemptIndex];
                if (attempt.Outcome == AttemptOutcome.Cancelled && attempt.Deployment != deployment)
                {
                    abandonedInput += governance.Settings.CountPromptTokens(request);
                }
            }
        }

        var served = deployment is null ? null : group.Find(deployment);
        return new CallOutcome
        {
            Deployment = deployment ?? "",
            Provider = routing?.Provider ?? "",
            PricedModel = served?.Info.UpstreamModel ?? "",
            InputTokens = input,
            OutputTokens = output,
            CachedInputTokens = cached,
            Estimated = estimated,
            AbandonedInputTokens = abandonedInput,
            Status = status,
            Attempts = attempts,
            TimeToFirstTokenMs = ttft,
        };
    }

    private StatusCode StatusOf(Exception ex, CompletionCall context) => ex switch
    {
        RpcException rpc => rpc.StatusCode,
        OperationCanceledException when context.CancellationToken.IsCancellationRequested
            => context.DeadlinePassed(timeProvider) ? StatusCode.DeadlineExceeded : StatusCode.Cancelled,
        _ => StatusCode.Unknown,
    };

    private ModelGroup Resolve(CompletionRequest request)
    {
        if (catalog.TryGet(request.Model, out var group))
        {
            return group;
        }

        throw new RpcException(new Status(StatusCode.NotFound, $"model: '{request.Model}' not found. Available models: {string.Join(", ", catalog.Names)}."));
    }

    /// <summary>Sees every event on its way to the caller: first output, usage, finish, error.</summary>
    private sealed class ObservingWriter(ICompletionEventWriter inner, CallTelemetry observed) : ICompletionEventWriter
    {
        public Task WriteAsync(CompletionChunk chunk, CancellationToken cancellationToken)
        {
            observed.OnChunk(chunk);
            return inner.WriteAsync(chunk, cancellationToken);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(100, LogLevel.Debug, "Stream {RequestId} cancelled by the caller.", EventName = "StreamCancelled")]
        public static partial void StreamCancelled(ILogger logger, string requestId);
    }
}
