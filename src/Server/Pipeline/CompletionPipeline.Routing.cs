using System.Text;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Caching;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Routing;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Pipeline;

/// <summary>
/// Smarter routing (README "Smarter routing"): task routers, capability matching, cascades with
/// a quality gate, and mid-stream continuation. A plain model group meets none of it beyond a
/// few field checks: every path here starts behind a kind, a flag or a null test.
/// </summary>
internal sealed partial class CompletionPipeline
{
    public const string CapabilityErrorKind = "capability_unavailable";

    /// <summary>
    /// For a router: the task class and the model it maps to. Then, when any deployment declares
    /// capabilities or an output limit, what the request needs: a group with no deployment that
    /// has it passes the call to the first of its fallbacks (then context fallbacks) that has one,
    /// else the call is refused with INVALID_ARGUMENT naming the missing capability.
    /// </summary>
    private (ModelGroup Group, RouteNotes? Notes) RouteTask(ModelGroup router, CompletionRequest request, CallTelemetry observed)
    {
        var (taskClass, method) = taskRouting.Get(router.Name).Classify(request);
        var target = router.Options.Router.Routes[taskClass];
        if (!catalog.TryGet(target, out var group))
        {
            // The validator checks every route; a missing one is a bug, not the caller's fault.
            throw new InvalidOperationException($"Router '{router.Name}' routes class '{taskClass}' to unknown model '{target}'.");
        }

        Log.TaskRouted(logger, router.Name, taskClass, method, group.Name);
        observed.Activity?.SetTag("gateway.task_class", taskClass);
        return (group, new RouteNotes(taskClass, group.Name));
    }

    private (ModelGroup Group, ContextFit Fit) MatchCapabilities(ModelGroup group, ContextFit fit, CompletionRequest request)
    {
        var needs = DeploymentCapabilities.Required(request, catalog.DeclaresOutputLimits);
        if (needs == Capability.None)
        {
            return (group, fit);
        }

        fit = fit with { Needs = needs };
        if (request.Routing is { Deployment.Length: > 0 } pinned && group.Find(pinned.Deployment) is { } pin && !pin.Serves(needs, request.MaxTokens))
        {
            throw CapabilityError(group, pin.Missing(needs, request.MaxTokens), request, pin.Info.Name);
        }

        if (group.Kind != ModelKind.Deployments || group.CanServe(needs, request.MaxTokens))
        {
            // A cascade matches each stage when it runs.
            return (group, fit);
        }

        if (request.Routing is not { Deployment.Length: > 0 })
        {
            foreach (var chain in (IReadOnlyList<string>[])[group.Options.Fallbacks, group.Options.ContextFallbacks])
            {
                foreach (var name in chain)
                {
                    if (catalog.TryGet(name, out var next) && next.Kind == ModelKind.Deployments && next.CanServe(needs, request.MaxTokens))
                    {
                        Log.CapabilityFallback(logger, group.Name, next.Name, DeploymentCapabilities.Describe(needs, request));
                        return (next, fit with { Fallback = true });
                    }
                }
            }
        }

        throw CapabilityError(group, needs, request);
    }

    private static RpcException CapabilityError(ModelGroup group, Capability needs, CompletionRequest request, string pinned)
        => new(
            new Status(StatusCode.InvalidArgument, $"routing.deployment: the pinned deployment '{pinned}' of '{group.Name}' cannot serve this request; missing capability: {DeploymentCapabilities.Describe(needs, request)}."),
            new Metadata { { ErrorMapping.ErrorKindTrailer, CapabilityErrorKind } });

    private static RpcException CapabilityError(ModelGroup group, Capability needs, CompletionRequest request)
    {
        // Name what the closest deployment lacks (the one missing the fewest needs).
        var missing = needs;
        foreach (var d in group.Deployments)
        {
            var lacks = d.Missing(needs, request.MaxTokens);
            if (System.Numerics.BitOperations.PopCount((uint)lacks) < System.Numerics.BitOperations.PopCount((uint)missing))
            {
                missing = lacks;
            }
        }

        return new RpcException(
            new Status(StatusCode.InvalidArgument, $"model: no deployment of '{group.Name}' (or of its fallbacks) can serve this request; missing capability: {DeploymentCapabilities.Describe(missing, request)}."),
            new Metadata { { ErrorMapping.ErrorKindTrailer, CapabilityErrorKind } });
    }

    /// <summary>
    /// Runs a cascade's stages in order (unary): each stage is a full dispatch of its model
    /// (retries and fallbacks included); its answer is checked by the gate (length, refusal, JSON,
    /// then the judge); a passing answer ends the cascade, a failing one (or a stage that failed
    /// outright) moves on to the next stage. The last stage's answer is taken as it is. Every
    /// stage's tokens are billed, each at its own model's price.
    /// </summary>
    private async Task<CascadeRun> CascadeAsync(ModelGroup cascade, CompletionRequest request, CompletionCall context, ContextFit fit)
    {
        var options = cascade.Options.Cascade;
        var run = new CascadeRun();
        var stages = options.Stages;
        for (var i = 0; i < stages.Count; i++)
        {
            var last = i == stages.Count - 1;
            if (!catalog.TryGet(stages[i], out var stage))
            {
                throw new InvalidOperationException($"Cascade '{cascade.Name}' names unknown stage '{stages[i]}'.");
            }

            if (fit.Needs != Capability.None && !stage.CanServe(fit.Needs, request.MaxTokens))
            {
                run.Stages.Add(new CascadeStage { Model = stage.Name, Gate = "capability", Reason = "no deployment has " + DeploymentCapabilities.Describe(fit.Needs, request) });
                if (last)
                {
                    throw CapabilityError(stage, fit.Needs, request);
                }

                continue;
            }

            CompletionResponse answer;
            DeploymentRuntime served;
            CallState state;
            ModelGroup group;
            try
            {
                (group, var stageFit) = contextWindows.Check(stage, request);
                state = dispatcher.NewCall(request, context.Deadline, context.CancellationToken, stageFit with { Needs = fit.Needs });
                try
                {
                    (answer, served) = await dispatcher.CompleteAsync(group, state).ConfigureAwait(false);
                }
                finally
                {
                    run.AddAttempts(state.Routing(null));
                }
            }
            catch (RpcException ex) when (!last && !context.CancellationToken.IsCancellationRequested && ex.StatusCode != StatusCode.DeadlineExceeded)
            {
                Log.CascadeStageFailed(logger, cascade.Name, stage.Name, ex.StatusCode);
                run.Stages.Add(new CascadeStage { Model = stage.Name, Gate = "error", Reason = ex.StatusCode.ToString() });
                continue;
            }

            var usage = answer.Usage ?? new Usage();
            var priced = new PricedUsage(served.Info.UpstreamModel, usage.InputTokens, usage.OutputTokens, Abandoned: true);
            var record = new CascadeStage
            {
                Model = group.Name,
                Deployment = served.Info.Name,
                CostUsd = (double)governance.CostOf(request, new CallOutcome { PricedModel = priced.PricedModel, InputTokens = priced.InputTokens, OutputTokens = priced.OutputTokens }),
            };
            run.Stages.Add(record);
            var verdict = last ? null : CascadeGate.Check(answer, request, options.Gate);
            if (!last && verdict is null && options.Gate.Judge is { } judge)
            {
                var (judged, score, judgeUsage) = await JudgeAsync(judge, request, answer, context).ConfigureAwait(false);
                verdict = judged;
                record.JudgeScore = score;
                if (judgeUsage is { } spent)
                {
                    run.Others.Add(spent);
                }
            }

            if (verdict is { } failed)
            {
                record.Gate = failed.Gate;
                record.Reason = failed.Reason;
                run.Others.Add(priced);
                Log.CascadeEscalated(logger, cascade.Name, group.Name, failed.Gate, failed.Reason);
                continue;
            }

            record.Passed = true;
            run.Response = answer;
            run.Served = group;
            run.Routing = run.Finish(served, group.Name);
            return run;
        }

        // Only reached when every stage was skipped or failed and the last one was skipped above.
        throw new RpcException(new Status(StatusCode.Unavailable, $"Every stage of cascade '{cascade.Name}' failed."));
    }

    private async Task<((string Gate, string Reason)? Verdict, double Score, PricedUsage? Usage)> JudgeAsync(CascadeJudgeOptions judge, CompletionRequest request, CompletionResponse answer, CompletionCall context)
    {
        if (!catalog.TryGet(judge.Model, out var judgeGroup))
        {
            throw new InvalidOperationException($"Cascade judge '{judge.Model}' is not a configured model.");
        }

        var judgeRequest = CascadeGate.JudgeRequest(request, TaskClassifier.LastUserText(request), answer.Message?.Content ?? "", judge);
        var state = dispatcher.NewCall(judgeRequest, context.Deadline, context.CancellationToken);
        try
        {
            var (reply, served) = await dispatcher.CompleteAsync(judgeGroup, state).ConfigureAwait(false);
            var usage = new PricedUsage(served.Info.UpstreamModel, reply.Usage?.InputTokens ?? 0, reply.Usage?.OutputTokens ?? 0, Abandoned: false);
            if (CascadeGate.ParseScore(reply.Message?.Content ?? "") is not { } score)
            {
                return ((CascadeGate.Judge, "the judge's reply held no score"), 0, usage);
            }

            return (score < judge.Threshold ? (CascadeGate.Judge, $"score {score:0.##} below {judge.Threshold:0.##}") : null, score, usage);
        }
        catch (RpcException ex) when (!context.CancellationToken.IsCancellationRequested)
        {
            // No verdict is a failed gate: the next stage is the safer answer.
            return ((CascadeGate.Judge, "the judge failed: " + ex.StatusCode), 0, null);
        }
    }

    /// <summary>
    /// A stream to a cascade: the stages run as unary calls (a gate needs the whole answer), and
    /// the answer that passed is then sent as a stream (start, word deltas, usage, finish).
    /// </summary>
    private async Task StreamCascadeAsync(ModelGroup group, CompletionRequest request, ICompletionEventWriter stream, CompletionCall context, ContextFit fit, string id, Admission admission, RouteNotes? notes)
    {
        var outcome = new CallOutcome { Status = StatusCode.Unknown };
        CompletionResponse response;
        try
        {
            var run = await CascadeAsync(group, request, context, fit).ConfigureAwait(false);
            response = run.Response!;
            notes?.ApplyTo(run.Routing!);
            response.Routing = run.Routing;
            var usage = response.Usage ??= new Usage();
            outcome = Outcome(run.Routing, StatusCode.OK, usage.InputTokens, usage.OutputTokens, usage.CachedInputTokens, usage.Estimated, request, run.Served!, null) with { OtherUsage = run.Others };
            await admission.CompleteAsync(outcome).ConfigureAwait(false);
            run.AddOthersTo(usage);
            usage.CostUsd = (double)admission.CostUsd;
        }
        catch (Exception ex)
        {
            await admission.CompleteAsync(outcome with { Status = StatusOf(ex, context) }).ConfigureAwait(false);
            throw;
        }

        response.Id = id;
        await ReplayAsync(new CacheHit(response, CacheStatus.Unspecified, 0, 0), id, stream, context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves a stream whose upstream failed after output reached the caller to another
    /// deployment: the failed attempt is closed, the next one (same group first, then its
    /// fallbacks) gets the output so far as its prefix, and the caller is told with a
    /// <c>continuation</c> event. Throws the dispatcher's failure when nothing takes over.
    /// </summary>
    private async Task<StreamHandle> TakeOverAsync(StreamTakeover takeover, StreamHandle failed, ProviderException error, ICompletionEventWriter stream, CancellationToken token)
    {
        var state = failed.State!;
        failed.Finish(AttemptOutcome.Failed, error.KindName);
        state.MarkFailed(failed.Deployment);
        var prefix = takeover.Begin(failed, governance.Settings.CountPromptTokens(state.Request));
        state.Continuation = prefix;
        await failed.DisposeAsync().ConfigureAwait(false);
        StreamHandle next;
        try
        {
            next = await dispatcher.ContinueStreamAsync(takeover.Group, state).ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode != StatusCode.DeadlineExceeded && !token.IsCancellationRequested)
        {
            // Nothing could take over: the call ends as it would have without continuation.
            Log.ContinuationFailed(logger, failed.Deployment.Info.Name, ex.Status.Detail);
            throw error;
        }

        var deployment = next.Deployment.Info;
        var continuation = new StreamContinuation
        {
            FailedDeployment = failed.Deployment.Info.Name,
            Error = error.KindName,
            Deployment = deployment.Name,
            Provider = deployment.Provider,
            TokensCarried = prefix.Tokens,
        };
        takeover.Continued(next, continuation, trimLeadingWhitespace: prefix.TrimmedWhitespace && deployment.Provider == ProviderNames.Anthropic);
        Log.StreamContinued(logger, continuation.FailedDeployment, continuation.Deployment, prefix.Tokens, error.KindName);
        await stream.WriteAsync(new CompletionChunk { Continuation = continuation.Clone() }, token).ConfigureAwait(false);
        return next;
    }

    /// <summary>What a router decided, for the answer's routing and the access log.</summary>
    internal sealed class RouteNotes(string taskClass, string routedModel)
    {
        public string TaskClass { get; } = taskClass;

        public string RoutedModel { get; } = routedModel;

        public void ApplyTo(RoutingInfo routing)
        {
            routing.TaskClass = TaskClass;
            if (routing.RoutedModel.Length == 0)
            {
                routing.RoutedModel = RoutedModel;
            }
        }
    }

    /// <summary>The state of one cascade: stages so far, their attempts, the usage of the stages not taken.</summary>
    private sealed class CascadeRun
    {
        private readonly List<Attempt> _attempts = [];

        public List<CascadeStage> Stages { get; } = [];

        public List<PricedUsage> Others { get; } = [];

        public CompletionResponse? Response { get; set; }

        public RoutingInfo? Routing { get; set; }

        public ModelGroup? Served { get; set; }

        public void AddAttempts(RoutingInfo routing)
        {
            foreach (var attempt in routing.Attempts)
            {
                attempt.Number = _attempts.Count + 1;
                _attempts.Add(attempt);
            }
        }

        public RoutingInfo Finish(DeploymentRuntime served, string model)
        {
            var routing = new RoutingInfo { Deployment = served.Info.Name, Provider = served.Info.Provider, RoutedModel = model };
            routing.Attempts.AddRange(_attempts);
            routing.Cascade.AddRange(Stages);
            return routing;
        }

        /// <summary>The answer's usage covers every stage (and the judge), as the ledger does.</summary>
        public void AddOthersTo(Usage usage)
        {
            foreach (var other in Others)
            {
                usage.InputTokens += (int)other.InputTokens;
                usage.OutputTokens += (int)other.OutputTokens;
            }
        }
    }

    /// <summary>
    /// Continuation state of one stream (only for model groups with continuation on): the text
    /// the caller has, whether a tool call began (those are not continued), the takeovers made.
    /// </summary>
    private sealed class StreamTakeover(ModelGroup group, ContinuationOptions options)
    {
        private readonly StringBuilder _text = new();
        private int _deltas;
        private int _carriedBefore;
        private string _prefixGiven = "";
        private bool _toolCalls;
        private bool _trimLeading;
        private List<StreamContinuation>? _continuations;

        public ModelGroup Group { get; } = group;

        /// <summary>The handle now streaming (null until a takeover).</summary>
        public StreamHandle? Current { get; private set; }

        /// <summary>Usage of the attempts that were taken over, priced at their own models.</summary>
        public List<PricedUsage>? Prior { get; private set; }

        public bool CanContinue(ProviderException error)
            => _deltas > 0 && !_toolCalls && (_continuations?.Count ?? 0) < options.MaxContinuations && ModelGroup.IsRetryable(error.Kind);

        /// <summary>Sees an event before it goes out; false: drop it (whitespace the caller already has).</summary>
        public bool Pass(CompletionChunk chunk)
        {
            if (chunk.EventCase == CompletionChunk.EventOneofCase.Delta)
            {
                var delta = chunk.Delta;
                if (_trimLeading)
                {
                    var text = delta.Text.TrimStart();
                    if (text.Length == 0)
                    {
                        return false;
                    }

                    _trimLeading = false;
                    delta.Text = text;
                }

                _text.Append(delta.Text);
                _deltas++;
            }
            else if (chunk.EventCase == CompletionChunk.EventOneofCase.ToolCallDelta)
            {
                _toolCalls = true;
            }

            return true;
        }

        public ContinuationPrefix Begin(StreamHandle failed, int promptTokens)
        {
            // The failed attempt's share: its prompt (with the prefix it was given, if it was
            // itself a continuation) and the deltas it sent.
            (Prior ??= []).Add(new PricedUsage(failed.Deployment.Info.UpstreamModel, promptTokens + TokenEstimator.CountText(_prefixGiven), _deltas - _carriedBefore, Abandoned: false));
            _carriedBefore = _deltas;
            _prefixGiven = _text.ToString();
            return new ContinuationPrefix(_prefixGiven, _deltas, options.Prompt);
        }

        public void Continued(StreamHandle next, StreamContinuation continuation, bool trimLeadingWhitespace)
        {
            Current = next;
            _trimLeading = trimLeadingWhitespace;
            (_continuations ??= []).Add(continuation);
        }

        public void AddTo(RoutingInfo routing)
        {
            if (_continuations is not null)
            {
                routing.Continuations.AddRange(_continuations);
            }
        }

        /// <summary>The caller's usage covers the attempts taken over.</summary>
        public void AddPriorTo(Usage usage)
        {
            if (Prior is null)
            {
                return;
            }

            foreach (var prior in Prior)
            {
                usage.InputTokens += (int)prior.InputTokens;
                usage.OutputTokens += (int)prior.OutputTokens;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(101, LogLevel.Debug, "Router {Router} sorted a request into {TaskClass} ({Method}); routed to {Model}.", EventName = "TaskRouted")]
        public static partial void TaskRouted(ILogger logger, string router, string taskClass, string method, string model);

        [LoggerMessage(102, LogLevel.Information, "Model {Model} has no deployment with {Capabilities}; using {Fallback}.", EventName = "CapabilityFallback")]
        public static partial void CapabilityFallback(ILogger logger, string model, string fallback, string capabilities);

        [LoggerMessage(103, LogLevel.Information, "Cascade {Cascade}: stage {Stage} failed its gate ({Gate}: {Reason}); escalating.", EventName = "CascadeEscalated")]
        public static partial void CascadeEscalated(ILogger logger, string cascade, string stage, string gate, string reason);

        [LoggerMessage(104, LogLevel.Information, "Cascade {Cascade}: stage {Stage} failed ({Status}); escalating.", EventName = "CascadeStageFailed")]
        public static partial void CascadeStageFailed(ILogger logger, string cascade, string stage, StatusCode status);

        [LoggerMessage(105, LogLevel.Information, "Stream on {Failed} failed mid-way ({Kind}); {Deployment} continues it from {Tokens} tokens.", EventName = "StreamContinued")]
        public static partial void StreamContinued(ILogger logger, string failed, string deployment, int tokens, string kind);

        [LoggerMessage(106, LogLevel.Information, "No deployment could continue the stream of {Failed}: {Detail}", EventName = "ContinuationFailed")]
        public static partial void ContinuationFailed(ILogger logger, string failed, string detail);
    }
}
