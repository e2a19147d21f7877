using Gateway.Grpc.Adapters;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Observability.Metrics;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Server;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Server.Services;

/// <summary>gateway.v1.Completion: validation, model resolution, dispatch, and the stream contract.</summary>
internal sealed partial class CompletionService(ModelCatalog catalog, Dispatcher dispatcher, GovernanceService governance, TimeProvider timeProvider, CompletionTelemetry telemetry, GatewayMetrics metrics, TenantBodyCapturePolicy bodyPolicy, ILogger<CompletionService> logger)
{
    public const string RequestIdHeader = "x-request-id";

    public ServerServiceDefinition CreateDefinition()
        => ServerServiceDefinition.CreateBuilder(CompletionMethods.ServiceName, CompletionReflection.Descriptor)
            .AddMethod(CompletionMethods.Complete, telemetry.Observe(CompleteAsync))
            .AddMethod(CompletionMethods.StreamComplete, telemetry.Observe(StreamCompleteAsync))
            .Build();

    public async Task<CompletionResponse> CompleteAsync(CompletionRequest request, ServerCallContext context)
    {
        var (group, id, admission) = await AdmitAsync(request, context, stream: false).ConfigureAwait(false);
        var outcome = new CallOutcome { Status = StatusCode.Unknown };
        try
        {
            var (response, routing) = await dispatcher.CompleteAsync(group, request, context.Deadline, context.CancellationToken).ConfigureAwait(false);
            response.Id = id;
            response.Created = timeProvider.GetUtcNow().ToUnixTimeSeconds();
            response.Routing = routing;
            var usage = response.Usage ??= new Usage();
            outcome = Outcome(routing, StatusCode.OK, usage.InputTokens, usage.OutputTokens, usage.CachedInputTokens, usage.Estimated, request, group, null);
            await admission.CompleteAsync(outcome).ConfigureAwait(false);
            usage.CostUsd = (double)admission.CostUsd;
            return response;
        }
        catch (Exception ex)
        {
            await admission.CompleteAsync(outcome with { Status = StatusOf(ex, context) }).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Streams events. Retries, fallback and hedging are transparent until the first event; the
    /// stream's contract: OK only after <c>finish</c>; an upstream failure after output began
    /// becomes an <c>error</c> event and a non-OK status, never a finish.
    /// </summary>
    public async Task StreamCompleteAsync(CompletionRequest request, IServerStreamWriter<CompletionChunk> stream, ServerCallContext context)
    {
        var (group, id, admission) = await AdmitAsync(request, context, stream: true).ConfigureAwait(false);
        var token = context.CancellationToken;
        var started = timeProvider.GetTimestamp();
        long? ttft = null;
        Usage? usage = null;
        CallOutcome? served = null;
        var outputPieces = 0L;
        StreamHandle? handle = null;
        var status = StatusCode.Unknown;
        try
        {
            handle = await dispatcher.OpenStreamAsync(group, request, context.Deadline, token).ConfigureAwait(false);
            ttft = (long)timeProvider.GetElapsedTime(started).TotalMilliseconds;
            await PumpAsync(handle, id, stream, token, chunk =>
            {
                if (chunk.EventCase == CompletionChunk.EventOneofCase.Usage)
                {
                    usage = chunk.Usage;
                    // The outcome is known from here on (no attempt starts after the first token):
                    // priced before the event goes out, and settled with the same figures below.
                    served = Outcome(handle.Routing, StatusCode.OK, usage.InputTokens, usage.OutputTokens, usage.CachedInputTokens, usage.Estimated, request, group, ttft);
                    usage.CostUsd = (double)governance.CostOf(request, served);
                    _ = handle.ReportUsageAsync(usage.InputTokens + usage.OutputTokens).AsTask();
                }
                else if (chunk.EventCase is CompletionChunk.EventOneofCase.Delta or CompletionChunk.EventOneofCase.ToolCallDelta)
                {
                    outputPieces++;
                }
            }).ConfigureAwait(false);
            status = StatusCode.OK;
            if (served is not null)
            {
                // The usage event already went out, priced from this outcome.
                await admission.CompleteAsync(served).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            status = StatusOf(ex, context);
            throw;
        }
        finally
        {
            if (handle is not null)
            {
                await handle.DisposeAsync().ConfigureAwait(false);
            }

            if (status != StatusCode.OK || usage is null)
            {
                // The provider served part of an answer (or did not say how much): count it ourselves.
                var input = outputPieces > 0 || status == StatusCode.OK ? governance.Settings.CountPromptTokens(request) : 0;
                await admission.CompleteAsync(Outcome(handle?.Routing, status, usage?.InputTokens ?? input, usage?.OutputTokens ?? outputPieces, usage?.CachedInputTokens ?? 0, true, request, group, ttft)).ConfigureAwait(false);
            }
        }
    }

    private async Task PumpAsync(StreamHandle handle, string id, IServerStreamWriter<CompletionChunk> stream, CancellationToken token, Action<CompletionChunk> observe)
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
                if (chunk.EventCase == CompletionChunk.EventOneofCase.Finish)
                {
                    chunk.Finish.Routing = handle.Finish(AttemptOutcome.Success);
                    await stream.WriteAsync(chunk, token).ConfigureAwait(false);
                    return;
                }

                await stream.WriteAsync(chunk, token).ConfigureAwait(false);
                if (!await handle.Events.MoveNextAsync().ConfigureAwait(false))
                {
                    throw new ProviderException(ProviderErrorKind.StreamInterrupted, "The upstream stream ended without its terminal event.");
                }

                chunk = handle.Events.Current;
            }
        }
        catch (ProviderException ex)
        {
            // Output already reached the client: say why in-band, then fail the call.
            var routing = handle.Finish(AttemptOutcome.Failed, ex.KindName);
            var rpc = ErrorMapping.ToRpcException(ex, $"deployment '{deployment.Name}'");
            rpc.Trailers.Add("gateway-attempts", handle.AttemptsTrailer());
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

    /// <summary>Validation, authentication, model resolution, then admission (limits and budgets).</summary>
    private async Task<(ModelGroup Group, string Id, Admission Admission)> AdmitAsync(CompletionRequest request, ServerCallContext context, bool stream)
    {
        RequestValidator.Validate(request);
        var principal = await governance.AuthenticateAsync(AdminService.BearerToken(context.RequestHeaders), context.CancellationToken).ConfigureAwait(false);
        CallTelemetry.From(context)?.SetCaller(principal.TeamId, principal.KeyId);
        bodyPolicy.Observe(principal);
        var group = Resolve(request);
        var id = StartCall(context);
        var route = context.GetHttpContext().Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true ? "grpc" : "rest";
        Admission admission;
        try
        {
            admission = await governance.AdmitAsync(principal, request, new CallInfo(id, route, stream), context.CancellationToken).ConfigureAwait(false);
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

        var headers = context.GetHttpContext().Response.Headers;
        foreach (var header in admission.Headers)
        {
            headers[header.Key] = header.Value;
        }

        return (group, id, admission);
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
            foreach (var attempt in routing.Attempts)
            {
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

    private static StatusCode StatusOf(Exception ex, ServerCallContext context) => ex switch
    {
        RpcException rpc => rpc.StatusCode,
        OperationCanceledException when context.CancellationToken.IsCancellationRequested
            => context.Deadline <= DateTime.UtcNow ? StatusCode.DeadlineExceeded : StatusCode.Cancelled,
        _ => StatusCode.Unknown,
    };

    /// <summary>Takes the caller's x-request-id or makes one; it goes out with the response headers.</summary>
    private static string StartCall(ServerCallContext context)
    {
        var id = context.RequestHeaders.GetValue(RequestIdHeader) is { Length: > 0 and <= 128 } callerId
            ? callerId
            : RequestIds.New();
        context.GetHttpContext().Response.Headers[RequestIdHeader] = id;
        return id;
    }

    private ModelGroup Resolve(CompletionRequest request)
    {
        if (catalog.TryGet(request.Model, out var group))
        {
            return group;
        }

        throw new RpcException(new Status(StatusCode.NotFound, $"model: '{request.Model}' not found. Available models: {string.Join(", ", catalog.Names)}."));
    }

    private static partial class Log
    {
        [LoggerMessage(100, LogLevel.Debug, "Stream {RequestId} cancelled by the caller.", EventName = "StreamCancelled")]
        public static partial void StreamCancelled(ILogger logger, string requestId);
    }
}
