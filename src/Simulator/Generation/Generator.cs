using System.Globalization;
using System.Text;

namespace Gateway.Grpc.Simulator.Generation;

internal enum SimFinish
{
    /// <summary>Natural end of turn.</summary>
    Stop,

    /// <summary>max_tokens reached.</summary>
    Length,

    /// <summary>The answer is tool calls.</summary>
    ToolCalls,

    /// <summary>A stop sequence was produced (cut before it).</summary>
    StopSequence,
}

internal sealed class SimToolCall(string idSuffix, string name, string arguments, List<string> pieces)
{
    /// <summary>24 hex chars; dialects prefix it (call_, toolu_).</summary>
    public string IdSuffix { get; } = idSuffix;

    public string Name { get; } = name;

    /// <summary>The arguments JSON as emitted (may be cut short by max_tokens).</summary>
    public string Arguments { get; } = arguments;

    /// <summary>The arguments split into streamed pieces; one piece is one output token.</summary>
    public List<string> Pieces { get; } = pieces;
}

/// <summary>A generated answer: text tokens or tool calls, why it ended, and its usage.</summary>
internal sealed class SimPlan
{
    public required List<string> TextTokens { get; init; }

    public required List<SimToolCall> ToolCalls { get; init; }

    public SimFinish Finish { get; init; }

    /// <summary>The stop sequence hit, for <see cref="SimFinish.StopSequence"/>.</summary>
    public string? StopSequence { get; init; }

    public int InputTokens { get; init; }

    /// <summary>Tokens actually produced: text pieces, plus name and argument pieces of tool calls.</summary>
    public int OutputTokens { get; init; }

    /// <summary>Input tokens served from the (simulated) prompt cache; a subset of <see cref="InputTokens"/>.</summary>
    public int CachedTokens { get; init; }

    public ulong Seed { get; init; }

    public string Text => string.Concat(TextTokens);

    /// <summary>Output pieces that are streamed one by one (what x-sim-disconnect-after counts).</summary>
    public int StreamUnits
    {
        get
        {
            var units = TextTokens.Count;
            foreach (var call in ToolCalls)
            {
                units += call.Pieces.Count;
            }

            return units;
        }
    }
}

/// <summary>
/// Deterministic answers: a function of (model, messages, seed) and the request's shape (tools,
/// response format, max tokens, stop sequences). Output tokens count what is emitted.
/// </summary>
internal static class Generator
{
    private static readonly HashSet<string> ToolNameNoise = new(StringComparer.OrdinalIgnoreCase)
    {
        "get", "set", "list", "fetch", "create", "update", "delete", "find", "make", "with", "from", "for", "the", "tool", "func", "function", "call", "run",
    };

    public static SimPlan Plan(SimRequest request, int? naturalTokens, int? cachedTokens, int? echoPieceChars = null)
    {
        var seed = Seed(request);
        var random = new DeterministicRandom(seed);
        var input = TokenCounter.CountPrompt(request);
        var cached = Math.Clamp(cachedTokens ?? 0, 0, input);
        var max = request.MaxTokens is > 0 ? request.MaxTokens.Value : int.MaxValue;
        var natural = naturalTokens ?? (16 + random.Next(48));

        var tools = echoPieceChars is null ? ChooseTools(request) : [];
        if (tools.Count > 0)
        {
            return PlanToolCalls(request, tools, seed, ref random, input, cached, max);
        }

        List<string> tokens;
        if (echoPieceChars is { } echoSize)
        {
            var last = "";
            foreach (var message in request.Messages)
            {
                if (message.Role == SimRole.User)
                {
                    last = message.Text;
                }
            }

            // An assistant turn at the end is a prefill (Anthropic): the answer continues it, so
            // a prefill that starts the echoed text gets only the rest of it.
            if (request.Messages.Count > 0 && request.Messages[^1] is { Role: SimRole.Assistant, Text.Length: > 0 } prefill
                && last.StartsWith(prefill.Text, StringComparison.Ordinal))
            {
                last = last[prefill.Text.Length..];
            }

            tokens = Split(last, echoSize);
        }
        else if (request.Format is OutputFormat.JsonObject or OutputFormat.JsonSchema)
        {
            string json;
            if (request.Format == OutputFormat.JsonSchema && request.FormatSchema is { } schema)
            {
                json = SchemaSampler.Sample(schema, ref random);
            }
            else
            {
                var words = Words.Tokens(ref random, Math.Min(natural, 24));
                json = "{\"answer\":\"" + string.Concat(words) + "\"}";
            }

            tokens = Split(json, 4);
        }
        else
        {
            tokens = Words.Tokens(ref random, natural);
        }

        var finish = SimFinish.Stop;
        string? stopHit = null;
        var emitted = new List<string>(Math.Min(tokens.Count, max));
        var produced = new StringBuilder();
        for (var i = 0; i < tokens.Count; i++)
        {
            if (emitted.Count >= max)
            {
                finish = SimFinish.Length;
                break;
            }

            var piece = tokens[i];
            var before = produced.Length;
            produced.Append(piece);
            var cut = FirstStop(produced, request.Stop, out var sequence);
            if (cut >= 0)
            {
                // Providers cut the output right before the stop sequence and leave it out; the
                // sequence may have started in earlier pieces, so trim back to the cut.
                var keep = cut - before;
                if (keep > 0)
                {
                    emitted.Add(piece[..keep]);
                }
                else
                {
                    TrimTo(emitted, cut);
                }

                finish = SimFinish.StopSequence;
                stopHit = sequence;
                break;
            }

            emitted.Add(piece);
        }

        return new SimPlan
        {
            TextTokens = emitted,
            ToolCalls = [],
            Finish = finish,
            StopSequence = stopHit,
            InputTokens = input,
            OutputTokens = emitted.Count,
            CachedTokens = cached,
            Seed = seed,
        };
    }

    private static SimPlan PlanToolCalls(SimRequest request, List<SimTool> tools, ulong seed, ref DeterministicRandom random, int input, int cached, int max)
    {
        var calls = new List<SimToolCall>(tools.Count);
        var output = 0;
        var finish = SimFinish.ToolCalls;
        for (var i = 0; i < tools.Count && finish == SimFinish.ToolCalls; i++)
        {
            var tool = tools[i];
            var arguments = SchemaSampler.Sample(tool.Schema, ref random);
            var pieces = Split(arguments, 6);
            output += TokenCounter.Count(tool.Name);
            if (output >= max)
            {
                finish = SimFinish.Length;
                pieces.Clear();
            }
            else if (output + pieces.Count > max)
            {
                finish = SimFinish.Length;
                pieces.RemoveRange(max - output, pieces.Count - (max - output));
            }

            output += pieces.Count;
            var id = (seed + (ulong)i).ToString("x16", CultureInfo.InvariantCulture) + ((uint)(seed >> 17) + (uint)i).ToString("x8", CultureInfo.InvariantCulture);
            calls.Add(new SimToolCall(id, tool.Name, string.Concat(pieces), pieces));
        }

        return new SimPlan
        {
            TextTokens = [],
            ToolCalls = calls,
            Finish = finish,
            InputTokens = input,
            OutputTokens = output,
            CachedTokens = cached,
            Seed = seed,
        };
    }

    /// <summary>
    /// Which tools to call. None after a tool result or with tool_choice none; the named tool for a
    /// named choice; otherwise the tools the last user message mentions (by name, or by a
    /// distinctive part of it: "weather" for get_weather), or the first tool when a call is required.
    /// </summary>
    private static List<SimTool> ChooseTools(SimRequest request)
    {
        var chosen = new List<SimTool>();
        if (request.Tools.Count == 0 || request.ToolChoice == ToolChoiceKind.None)
        {
            return chosen;
        }

        if (request.ToolChoice == ToolChoiceKind.Named)
        {
            foreach (var tool in request.Tools)
            {
                if (string.Equals(tool.Name, request.ToolChoiceName, StringComparison.Ordinal))
                {
                    chosen.Add(tool);
                    return chosen;
                }
            }

            chosen.Add(request.Tools[0]);
            return chosen;
        }

        var last = request.Messages.Count > 0 ? request.Messages[^1] : null;
        if (last is not null && last.Role == SimRole.User && !last.HasToolResult)
        {
            foreach (var tool in request.Tools)
            {
                if (Mentions(last.Text, tool.Name))
                {
                    chosen.Add(tool);
                    if (!request.ParallelToolCalls)
                    {
                        break;
                    }
                }
            }
        }

        if (chosen.Count == 0 && request.ToolChoice == ToolChoiceKind.Required)
        {
            chosen.Add(request.Tools[0]);
        }

        return chosen;
    }

    private static bool Mentions(string text, string toolName)
    {
        if (text.Contains(toolName, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var start = 0;
        for (var i = 1; i <= toolName.Length; i++)
        {
            var boundary = i == toolName.Length || toolName[i] is '_' or '-' or '.' || (char.IsUpper(toolName[i]) && char.IsLower(toolName[i - 1]));
            if (!boundary)
            {
                continue;
            }

            var part = toolName[start..i].Trim('_', '-', '.');
            if (part.Length >= 4 && !ToolNameNoise.Contains(part) && text.Contains(part, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            start = i;
        }

        return false;
    }

    private static int FirstStop(StringBuilder produced, List<string> stops, out string? sequence)
    {
        sequence = null;
        if (stops.Count == 0)
        {
            return -1;
        }

        var text = produced.ToString();
        var best = -1;
        foreach (var stop in stops)
        {
            if (stop.Length == 0)
            {
                continue;
            }

            var index = text.IndexOf(stop, StringComparison.Ordinal);
            if (index >= 0 && (best < 0 || index < best))
            {
                best = index;
                sequence = stop;
            }
        }

        return best;
    }

    private static void TrimTo(List<string> pieces, int length)
    {
        var total = 0;
        for (var i = 0; i < pieces.Count; i++)
        {
            var piece = pieces[i];
            if (total + piece.Length > length)
            {
                var keep = length - total;
                pieces.RemoveRange(i, pieces.Count - i);
                if (keep > 0)
                {
                    pieces.Add(piece[..keep]);
                }

                return;
            }

            total += piece.Length;
        }
    }

    private static List<string> Split(string text, int size)
    {
        var pieces = new List<string>((text.Length / size) + 1);
        for (var i = 0; i < text.Length; i += size)
        {
            pieces.Add(text.Substring(i, Math.Min(size, text.Length - i)));
        }

        return pieces;
    }

    private static ulong Seed(SimRequest request)
    {
        var hash = new Fnv64();
        hash.Add(request.Model);
        foreach (var message in request.Messages)
        {
            hash.Add((long)message.Role);
            hash.Add(message.Text);
        }

        if (request.Seed is { } seed)
        {
            hash.Add(seed);
        }

        return hash.Value;
    }
}
