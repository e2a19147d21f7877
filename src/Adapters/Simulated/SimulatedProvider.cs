using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;

namespace Gateway.Grpc.Adapters.Simulated;

/// <summary>
/// The built-in simulated provider behind the embedded default. Output is deterministic (a
/// function of model, messages and seed), produced token by token with a configurable
/// time-to-first-token and rate; usage counts what was really produced; max_tokens,
/// tools, structured output and cancellation are honoured.
/// Per-deployment settings: <c>ttft_ms</c>, <c>tokens_per_second</c> (0 = no pacing).
/// Per-request overrides through request metadata: <c>sim.ttft_ms</c>,
/// <c>sim.tokens_per_second</c>, <c>sim.output_tokens</c> (natural answer length).
/// </summary>
public sealed class SimulatedProvider(TimeProvider timeProvider) : IProviderAdapter
{
    public const string ProviderName = "simulated";

    private static readonly string[] Words =
    [
        "the", "gateway", "routes", "every", "request", "to", "a", "healthy", "model", "and",
        "streams", "tokens", "back", "as", "they", "arrive", "while", "budgets", "limits", "and",
        "traces", "keep", "teams", "safe", "fast", "simple", "reliable", "provider", "answer", "with",
        "clear", "typed", "events", "so", "clients", "know", "when", "it", "is", "done",
        "deadline", "cancel", "retry", "fallback", "hedge", "cache", "cost", "usage", "metric", "log",
        "of", "for", "on", "in", "this", "that", "we", "you", "can", "will", "now", "here", "more", "less",
    ];

    private long _started;
    private long _completed;
    private long _cancelled;
    private long _active;

    public SimulatedProvider()
        : this(TimeProvider.System)
    {
    }

    public string Provider => ProviderName;

    /// <summary>Generations started, completed, cancelled, and running now (for tests and diagnostics).</summary>
    public SimulatorStats Stats => new(Interlocked.Read(ref _started), Interlocked.Read(ref _completed), Interlocked.Read(ref _cancelled), Interlocked.Read(ref _active));

    public async Task<CompletionResponse> CompleteAsync(ProviderCall call, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var message = new Message { Role = Role.Assistant };
        var toolCalls = new Dictionary<int, ToolCall>();
        Usage? usage = null;
        var finish = FinishReason.Unspecified;
        await foreach (var chunk in StreamAsync(call, cancellationToken).ConfigureAwait(false))
        {
            switch (chunk.EventCase)
            {
                case CompletionChunk.EventOneofCase.Delta:
                    text.Append(chunk.Delta.Text);
                    break;
                case CompletionChunk.EventOneofCase.ToolCallDelta:
                    var d = chunk.ToolCallDelta;
                    if (!toolCalls.TryGetValue(d.Index, out var tc))
                    {
                        tc = new ToolCall { Id = d.Id, Name = d.Name };
                        toolCalls[d.Index] = tc;
                    }

                    tc.ArgumentsJson += d.ArgumentsDelta;
                    break;
                case CompletionChunk.EventOneofCase.Usage:
                    usage = chunk.Usage;
                    break;
                case CompletionChunk.EventOneofCase.Finish:
                    finish = chunk.Finish.Reason;
                    break;
            }
        }

        message.Content = text.ToString();
        foreach (var tc in toolCalls.OrderBy(p => p.Key))
        {
            message.ToolCalls.Add(tc.Value);
        }

        return new CompletionResponse
        {
            Model = call.Deployment.UpstreamModel,
            Provider = ProviderName,
            Message = message,
            FinishReason = finish,
            Usage = usage ?? new Usage(),
        };
    }

    public async IAsyncEnumerable<CompletionChunk> StreamAsync(ProviderCall call, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = call.Request;
        var settings = SimulationSettings.From(call.Deployment, request);
        Interlocked.Increment(ref _started);
        Interlocked.Increment(ref _active);
        var finished = false;
        try
        {
            if (settings.TimeToFirstToken > TimeSpan.Zero)
            {
                await Task.Delay(settings.TimeToFirstToken, timeProvider, cancellationToken).ConfigureAwait(false);
            }

            // Planned after the wait: like a real model, a waiting stream holds no answer yet
            // (10k idle streams would otherwise keep 10k generated answers alive).
            var plan = Plan(call, settings);

            var interval = settings.TokensPerSecond > 0 ? TimeSpan.FromSeconds(1.0 / settings.TokensPerSecond) : TimeSpan.Zero;
            for (var i = 0; i < plan.Pieces.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (i > 0 && interval > TimeSpan.Zero)
                {
                    await Task.Delay(interval, timeProvider, cancellationToken).ConfigureAwait(false);
                }

                yield return plan.Pieces[i];
            }

            cancellationToken.ThrowIfCancellationRequested();
            yield return new CompletionChunk { Usage = new Usage { InputTokens = plan.InputTokens, OutputTokens = plan.OutputTokens } };
            finished = true;
            yield return new CompletionChunk { Finish = new Finish { Reason = plan.FinishReason } };
        }
        finally
        {
            Interlocked.Decrement(ref _active);
            if (finished)
            {
                Interlocked.Increment(ref _completed);
            }
            else
            {
                Interlocked.Increment(ref _cancelled);
            }
        }
    }

    private static GenerationPlan Plan(ProviderCall call, SimulationSettings settings)
    {
        var request = call.Request;
        var seed = Seed(call.Deployment.UpstreamModel, request);
        var rng = new XorShift(seed);
        var maxTokens = request.HasMaxTokens && request.MaxTokens > 0 ? request.MaxTokens : int.MaxValue;
        var natural = settings.OutputTokens ?? (16 + (int)(rng.Next() % 48));
        var pieces = new List<CompletionChunk>();
        var inputTokens = TokenEstimator.CountPrompt(request);

        var tool = ChooseTool(request);
        if (tool is not null)
        {
            var arguments = JsonFromSchema(tool.Parameters, rng);
            var id = "call_" + seed.ToString("x16", CultureInfo.InvariantCulture)[..12];
            var half = arguments.Length / 2;
            pieces.Add(new CompletionChunk { ToolCallDelta = new ToolCallDelta { Index = 0, Id = id, Name = tool.Name, ArgumentsDelta = arguments[..half] } });
            pieces.Add(new CompletionChunk { ToolCallDelta = new ToolCallDelta { Index = 0, ArgumentsDelta = arguments[half..] } });
            var toolTokens = TokenEstimator.CountText(tool.Name) + TokenEstimator.CountText(arguments);
            return new GenerationPlan(pieces, inputTokens, toolTokens, FinishReason.ToolCalls);
        }

        List<string> tokens;
        var format = request.ResponseFormat?.Type ?? ResponseFormatType.Unspecified;
        if (format is ResponseFormatType.JsonObject or ResponseFormatType.JsonSchema)
        {
            var json = format == ResponseFormatType.JsonSchema && request.ResponseFormat!.JsonSchema?.Schema is { } schema
                ? JsonFromSchema(schema, rng)
                : "{\"text\":\"" + string.Join(' ', Sentence(rng, Math.Min(natural, 24))) + "\"}";
            tokens = SplitJson(json);
        }
        else
        {
            tokens = [];
            var words = Sentence(rng, natural);
            for (var i = 0; i < words.Count; i++)
            {
                tokens.Add(i == 0 ? words[i] : " " + words[i]);
            }
        }

        var count = Math.Min(tokens.Count, maxTokens);
        var finish = count < tokens.Count ? FinishReason.Length : FinishReason.Stop;
        var stopHit = false;
        var produced = new StringBuilder();
        var emitted = 0;
        for (var i = 0; i < count && !stopHit; i++)
        {
            var piece = tokens[i];
            produced.Append(piece);
            foreach (var stop in request.Stop)
            {
                if (stop.Length > 0 && produced.ToString().Contains(stop, StringComparison.Ordinal))
                {
                    // Cut the output right before the stop sequence, as providers do.
                    var full = produced.ToString();
                    var cut = full.IndexOf(stop, StringComparison.Ordinal);
                    var before = full[..cut];
                    var already = full.Length - piece.Length;
                    piece = cut > already ? before[already..] : "";
                    stopHit = true;
                    finish = FinishReason.Stop;
                    break;
                }
            }

            emitted++;
            if (piece.Length > 0)
            {
                pieces.Add(new CompletionChunk { Delta = new TextDelta { Text = piece } });
            }
        }

        return new GenerationPlan(pieces, inputTokens, emitted, finish);
    }

    private static Tool? ChooseTool(CompletionRequest request)
    {
        if (request.Tools.Count == 0)
        {
            return null;
        }

        var choice = request.ToolChoice;
        if (choice is not null)
        {
            switch (choice.ChoiceCase)
            {
                case ToolChoice.ChoiceOneofCase.FunctionName:
                    return request.Tools.FirstOrDefault(t => t.Name == choice.FunctionName) ?? request.Tools[0];
                case ToolChoice.ChoiceOneofCase.Mode when choice.Mode == ToolChoiceMode.None:
                    return null;
                case ToolChoice.ChoiceOneofCase.Mode when choice.Mode == ToolChoiceMode.Required:
                    return request.Tools[0];
            }
        }

        // Auto: call a tool when the last user message names it (case-insensitive), or when the
        // last message is not a tool result and mentions "weather"-like tool names.
        var last = request.Messages.LastOrDefault(m => m.Role == Role.User);
        if (last is null)
        {
            return null;
        }

        var text = last.Content;
        foreach (var tool in request.Tools)
        {
            if (text.Contains(tool.Name, StringComparison.OrdinalIgnoreCase))
            {
                return tool;
            }

            var spaced = tool.Name.Replace('_', ' ');
            if (text.Contains(spaced, StringComparison.OrdinalIgnoreCase))
            {
                return tool;
            }
        }

        return null;
    }

    private static string JsonFromSchema(Struct? schema, XorShift rng)
    {
        var sb = new StringBuilder("{");
        if (schema is not null && schema.Fields.TryGetValue("properties", out var props) && props.KindCase == Value.KindOneofCase.StructValue)
        {
            var first = true;
            foreach (var (name, definition) in props.StructValue.Fields)
            {
                if (!first)
                {
                    sb.Append(',');
                }

                first = false;
                sb.Append('"').Append(Escape(name)).Append("\":");
                var type = definition.KindCase == Value.KindOneofCase.StructValue && definition.StructValue.Fields.TryGetValue("type", out var t) && t.KindCase == Value.KindOneofCase.StringValue
                    ? t.StringValue
                    : "string";
                if (definition.KindCase == Value.KindOneofCase.StructValue && definition.StructValue.Fields.TryGetValue("enum", out var e)
                    && e.KindCase == Value.KindOneofCase.ListValue && e.ListValue.Values.Count > 0 && e.ListValue.Values[0].KindCase == Value.KindOneofCase.StringValue)
                {
                    sb.Append('"').Append(Escape(e.ListValue.Values[0].StringValue)).Append('"');
                    continue;
                }

                sb.Append(type switch
                {
                    "integer" => (rng.Next() % 100).ToString(CultureInfo.InvariantCulture),
                    "number" => ((rng.Next() % 1000) / 10.0).ToString("0.0", CultureInfo.InvariantCulture),
                    "boolean" => (rng.Next() % 2 == 0) ? "true" : "false",
                    "array" => "[]",
                    "object" => "{}",
                    "null" => "null",
                    _ => "\"" + string.Join(' ', Sentence(rng, 3)) + "\"",
                });
            }
        }

        return sb.Append('}').ToString();
    }

    private static string Escape(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    private static List<string> SplitJson(string json)
    {
        var tokens = new List<string>();
        for (var i = 0; i < json.Length; i += 4)
        {
            tokens.Add(json.Substring(i, Math.Min(4, json.Length - i)));
        }

        return tokens;
    }

    private static List<string> Sentence(XorShift rng, int count)
    {
        var words = new List<string>(count);
        var sinceStop = 0;
        for (var i = 0; i < count; i++)
        {
            var word = Words[rng.Next() % (ulong)Words.Length];
            if (sinceStop == 0)
            {
                word = char.ToUpperInvariant(word[0]) + word[1..];
            }

            sinceStop++;
            if (i == count - 1 || (sinceStop >= 6 && rng.Next() % 5 == 0))
            {
                word += ".";
                sinceStop = 0;
            }

            words.Add(word);
        }

        return words;
    }

    private static ulong Seed(string model, CompletionRequest request)
    {
        // FNV-1a over what determines the answer.
        var hash = 14695981039346656037UL;
        void Mix(string s)
        {
            foreach (var c in s)
            {
                hash ^= c;
                hash *= 1099511628211UL;
            }

            hash ^= 0xFF;
            hash *= 1099511628211UL;
        }

        Mix(model);
        foreach (var m in request.Messages)
        {
            Mix(m.Role.ToString());
            Mix(m.Content);
        }

        if (request.HasSeed)
        {
            Mix(request.Seed.ToString(CultureInfo.InvariantCulture));
        }

        return hash == 0 ? 1 : hash;
    }

    private sealed record GenerationPlan(List<CompletionChunk> Pieces, int InputTokens, int OutputTokens, FinishReason FinishReason);

    private struct XorShift(ulong state)
    {
        private ulong _state = state;

        public ulong Next()
        {
            _state ^= _state << 13;
            _state ^= _state >> 7;
            _state ^= _state << 17;
            return _state;
        }
    }
}

public readonly record struct SimulatorStats(long Started, long Completed, long Cancelled, long Active);

internal sealed record SimulationSettings(TimeSpan TimeToFirstToken, double TokensPerSecond, int? OutputTokens)
{
    public static SimulationSettings From(DeploymentInfo deployment, CompletionRequest request)
    {
        var ttft = Read(deployment.Settings, request, "ttft_ms") ?? 0;
        var tps = Read(deployment.Settings, request, "tokens_per_second") ?? 0;
        var output = Read(deployment.Settings, request, "output_tokens");
        return new SimulationSettings(TimeSpan.FromMilliseconds(Math.Max(0, ttft)), Math.Max(0, tps), output is { } o && o > 0 ? (int)Math.Min(o, 100_000) : null);
    }

    private static double? Read(IReadOnlyDictionary<string, string> settings, CompletionRequest request, string name)
    {
        if (request.Metadata.TryGetValue("sim." + name, out var fromRequest) && double.TryParse(fromRequest, NumberStyles.Float, CultureInfo.InvariantCulture, out var r))
        {
            return r;
        }

        return settings.TryGetValue(name, out var fromConfig) && double.TryParse(fromConfig, NumberStyles.Float, CultureInfo.InvariantCulture, out var c) ? c : null;
    }
}
