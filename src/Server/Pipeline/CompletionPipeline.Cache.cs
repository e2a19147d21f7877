using System.Text;
using Gateway.Grpc.Caching;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Telemetry;
using Gateway.V1;
using Grpc.Core;

namespace Gateway.Grpc.Server.Pipeline;

/// <summary>
/// The response cache's part of the pipeline: read the caller's <c>cache</c> header before
/// admission, plan after it (the key's and team's settings are known then, and a hit still counts
/// as a request against rate limits and budgets), serve a hit as the same response or the same
/// typed events a provider's answer would make, and store an answer that finished.
/// </summary>
internal sealed partial class CompletionPipeline
{
    /// <summary>Response header (and gRPC response metadata): hit-exact, hit-semantic, miss or bypass.</summary>
    public const string CacheResultHeader = "x-gateway-cache";

    /// <summary>Response header on a semantic hit: the cosine similarity of the prompts, e.g. 0.9731.</summary>
    public const string CacheSimilarityHeader = "x-gateway-cache-similarity";

    private CacheDirective ReadCacheDirective(CompletionCall context)
        => cache.ParseDirective(context.Http.Request.Headers[CacheDirective.HeaderName].ToString());

    private CachePlan PlanCache(CompletionRequest request, ModelGroup group, Admission admission, CacheDirective directive, CompletionCall context)
    {
        var plan = cache.Plan(request, group.Name, admission.Principal.KeyId, admission.Principal.TeamId, directive);
        if (plan.Status != CacheStatus.Unspecified)
        {
            context.Http.Response.Headers[CacheResultHeader] = plan.Lookup ? "miss" : "bypass";
        }

        return plan;
    }

    /// <summary>Looks the call up; on a hit settles it (no tokens, cost 0, the cost saved) and returns what to serve.</summary>
    private async ValueTask<CacheHit?> TryCacheHitAsync(CachePlan plan, CompletionRequest request, Admission admission, CallTelemetry observed, CompletionCall context)
    {
        if (plan.Status == CacheStatus.Unspecified)
        {
            return null;
        }

        var hit = await cache.LookupAsync(plan, context.CancellationToken).ConfigureAwait(false);
        if (hit is null)
        {
            return null;
        }

        var answer = hit.Response;
        var usage = answer.Usage ??= new Usage();
        var saved = governance.CostOf(request, new CallOutcome { PricedModel = answer.Model, InputTokens = usage.InputTokens, OutputTokens = usage.OutputTokens, CachedInputTokens = usage.CachedInputTokens });
        var label = hit.Status == CacheStatus.HitExact ? "hit_exact" : "hit_semantic";
        await admission.CompleteAsync(new CallOutcome
        {
            Provider = answer.Provider,
            PricedModel = answer.Model,
            Status = StatusCode.OK,
            TimeToFirstTokenMs = 0,
            Cache = label,
            SavedCostUsd = saved,
        }).ConfigureAwait(false);
        usage.CostUsd = 0;
        observed.MarkCacheHit();
        cache.Metrics.Saved(plan.Model, (double)saved);
        var headers = context.Http.Response.Headers;
        headers[CacheResultHeader] = hit.Status == CacheStatus.HitExact ? "hit-exact" : "hit-semantic";
        if (hit.Status == CacheStatus.HitSemantic)
        {
            headers[CacheSimilarityHeader] = hit.Similarity.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture);
        }
        answer.Routing = new RoutingInfo
        {
            Provider = answer.Provider,
            Cache = new CacheInfo { Status = hit.Status, Similarity = hit.Similarity, SavedCostUsd = (double)saved, AgeSeconds = hit.AgeSeconds },
        };
        return hit;
    }

    /// <summary>A unary miss: reports it in routing and stores the answer (unless no-store).</summary>
    private async ValueTask CacheUnaryAsync(CachePlan plan, CompletionResponse response)
    {
        if (plan.Status == CacheStatus.Unspecified)
        {
            return;
        }

        (response.Routing ??= new RoutingInfo()).Cache = new CacheInfo { Status = plan.Status };
        await cache.StoreAsync(plan, response).ConfigureAwait(false);
    }

    /// <summary>Replays a cached answer as a stream: start, text deltas (word by word), tool calls, usage, finish.</summary>
    private async Task ReplayAsync(CacheHit hit, string id, ICompletionEventWriter stream, CancellationToken token)
    {
        var answer = hit.Response;
        await stream.WriteAsync(new CompletionChunk
        {
            Start = new StreamStart { Id = id, Model = answer.Model, Provider = answer.Provider, Created = timeProvider.GetUtcNow().ToUnixTimeSeconds() },
        }, token).ConfigureAwait(false);
        var text = answer.Message?.Content ?? "";
        var start = 0;
        while (start < text.Length)
        {
            // One word and the whitespace after it, the way providers stream tokens.
            var end = start;
            while (end < text.Length && !char.IsWhiteSpace(text[end]))
            {
                end++;
            }

            while (end < text.Length && char.IsWhiteSpace(text[end]))
            {
                end++;
            }

            await stream.WriteAsync(new CompletionChunk { Delta = new TextDelta { Text = text[start..end] } }, token).ConfigureAwait(false);
            start = end;
        }

        var calls = answer.Message?.ToolCalls;
        for (var i = 0; calls is not null && i < calls.Count; i++)
        {
            await stream.WriteAsync(new CompletionChunk { ToolCallDelta = new ToolCallDelta { Index = i, Id = calls[i].Id, Name = calls[i].Name, ArgumentsDelta = calls[i].ArgumentsJson } }, token).ConfigureAwait(false);
        }

        await stream.WriteAsync(new CompletionChunk { Usage = answer.Usage }, token).ConfigureAwait(false);
        await stream.WriteAsync(new CompletionChunk { Finish = new Finish { Reason = answer.FinishReason, Routing = answer.Routing } }, token).ConfigureAwait(false);
    }

    /// <summary>
    /// Sees a live stream's events on their way out: marks the finish as a cache miss (or bypass)
    /// and rebuilds the answer, which is stored only once the finish went out.
    /// </summary>
    private sealed class CacheRecordingWriter(ICompletionEventWriter inner, CachePlan plan) : ICompletionEventWriter
    {
        private readonly StringBuilder _text = new();
        private readonly SortedDictionary<int, ToolCall> _calls = [];
        private StreamStart? _start;
        private Usage? _usage;
        private FinishReason? _finish;

        public async Task WriteAsync(CompletionChunk chunk, CancellationToken cancellationToken)
        {
            switch (chunk.EventCase)
            {
                case CompletionChunk.EventOneofCase.Start:
                    _start = chunk.Start;
                    break;
                case CompletionChunk.EventOneofCase.Delta:
                    _text.Append(chunk.Delta.Text);
                    break;
                case CompletionChunk.EventOneofCase.ToolCallDelta:
                    var delta = chunk.ToolCallDelta;
                    if (!_calls.TryGetValue(delta.Index, out var call))
                    {
                        call = new ToolCall { Id = delta.Id, Name = delta.Name };
                        _calls[delta.Index] = call;
                    }

                    call.ArgumentsJson += delta.ArgumentsDelta;
                    break;
                case CompletionChunk.EventOneofCase.Usage:
                    _usage = chunk.Usage.Clone();
                    break;
                case CompletionChunk.EventOneofCase.Finish:
                    (chunk.Finish.Routing ??= new RoutingInfo()).Cache = new CacheInfo { Status = plan.Status };
                    await inner.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                    _finish = chunk.Finish.Reason;
                    return;
            }

            await inner.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>The whole answer, once the stream finished; null for a stream that did not.</summary>
        public CompletionResponse? Answer()
        {
            if (_finish is not { } reason || _start is null)
            {
                return null;
            }

            var message = new Message { Role = Role.Assistant, Content = _text.ToString() };
            message.ToolCalls.AddRange(_calls.Values);
            return new CompletionResponse { Model = _start.Model, Provider = _start.Provider, Message = message, FinishReason = reason, Usage = _usage ?? new Usage() };
        }
    }
}
