using System.Text.Json;
using Gateway.Grpc.Adapters.Http;
using Gateway.Grpc.Adapters.Streaming;
using Gateway.V1;

namespace Gateway.Grpc.Adapters.OpenAI;

/// <summary>
/// Chat Completions chunks (<c>data: {"object":"chat.completion.chunk",...}</c>) to gateway events.
/// <c>finish_reason</c> arrives on a chunk before the usage-only chunk (<c>choices: []</c>) and
/// <c>data: [DONE]</c>; both are held until <c>[DONE]</c>, the only terminal event.
/// </summary>
internal sealed class OpenAIStreamTranslator(CompletionRequest request, Func<JsonElement, ProviderException> streamError) : StreamTranslator
{
    private readonly OutputTally _tally = new();
    private Usage? _usage;
    private string? _finishReason;
    private bool _sawToolCall;
    private bool _refused;

    public override string TerminalEventName => "data: [DONE]";

    public override bool OnEvent(SseReader sse, List<CompletionChunk> output)
    {
        var data = sse.Data.Span;
        if (data.SequenceEqual("[DONE]"u8))
        {
            output.Add(new CompletionChunk { Usage = _usage ?? _tally.Estimate(request) });
            var reason = _refused ? FinishReason.ContentFilter : OpenAIChatFormat.MapFinish(_finishReason, _sawToolCall);
            output.Add(new CompletionChunk { Finish = new Finish { Reason = reason } });
            return true;
        }

        var reader = new Utf8JsonReader(data);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("A stream chunk is not a JSON object.");
        }

        if (root.TryGetProperty("error", out var error) && error.ValueKind != JsonValueKind.Null)
        {
            throw streamError(root);
        }

        if (root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array)
        {
            foreach (var choice in choices.EnumerateArray())
            {
                if (OpenAIChatFormat.IntOf(choice, "index") != 0)
                {
                    continue;
                }

                if (choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object)
                {
                    ReadDelta(delta, output);
                }

                if (OpenAIChatFormat.StringOf(choice, "finish_reason") is { } reason)
                {
                    _finishReason = reason;
                }
            }
        }

        if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            _usage = OpenAIChatFormat.ParseUsage(usage);
        }
        else if (root.TryGetProperty("x_groq", out var groq) && groq.ValueKind == JsonValueKind.Object
            && groq.TryGetProperty("usage", out var groqUsage) && groqUsage.ValueKind == JsonValueKind.Object)
        {
            _usage = OpenAIChatFormat.ParseUsage(groqUsage);
        }

        return false;
    }

    private void ReadDelta(JsonElement delta, List<CompletionChunk> output)
    {
        if (OpenAIChatFormat.StringOf(delta, "content") is { Length: > 0 } text)
        {
            _tally.Add(text);
            output.Add(new CompletionChunk { Delta = new TextDelta { Text = text } });
        }

        if (OpenAIChatFormat.StringOf(delta, "refusal") is { Length: > 0 } refusal)
        {
            _refused = true;
            _tally.Add(refusal);
            output.Add(new CompletionChunk { Delta = new TextDelta { Text = refusal } });
        }

        if (delta.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
        {
            var position = 0;
            foreach (var call in calls.EnumerateArray())
            {
                // Some servers (older Ollama) send whole calls without "index": use the position.
                var index = call.TryGetProperty("index", out var i) && i.ValueKind == JsonValueKind.Number ? i.GetInt32() : position;
                position++;
                var toolDelta = new ToolCallDelta { Index = index, Id = OpenAIChatFormat.StringOf(call, "id") ?? "" };
                if (call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object)
                {
                    toolDelta.Name = OpenAIChatFormat.StringOf(function, "name") ?? "";
                    toolDelta.ArgumentsDelta = OpenAIChatFormat.ArgumentsDeltaOf(function);
                }

                _sawToolCall = true;
                if (toolDelta.Name.Length > 0)
                {
                    _tally.Break();
                    _tally.Add(toolDelta.Name);
                    _tally.Break();
                }

                _tally.Add(toolDelta.ArgumentsDelta);
                output.Add(new CompletionChunk { ToolCallDelta = toolDelta });
            }
        }
    }
}
