using System.Text.Json;
using Gateway.Grpc.Adapters.Http;
using Gateway.Grpc.Adapters.OpenAI;
using Gateway.Grpc.Adapters.Streaming;
using Gateway.V1;

namespace Gateway.Grpc.Adapters.Gemini;

/// <summary>
/// <c>streamGenerateContent?alt=sse</c>: every event is a whole GenerateContentResponse holding
/// the next parts. The chunk whose candidate carries <c>finishReason</c> is the terminal one;
/// <c>usageMetadata</c> is taken from the latest chunk that has it.
/// </summary>
internal sealed class GeminiStreamTranslator(string provider, CompletionRequest request, Func<JsonElement, ProviderException> streamError) : StreamTranslator
{
    private readonly OutputTally _tally = new();
    private Usage? _usage;
    private int _toolCalls;

    public override string TerminalEventName => "a chunk with finishReason";

    public override bool OnEvent(SseReader sse, List<CompletionChunk> output)
    {
        var reader = new Utf8JsonReader(sse.Data.Span);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        if (root.TryGetProperty("error", out _))
        {
            throw streamError(root);
        }

        if (root.TryGetProperty("usageMetadata", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            _usage = GeminiFormat.ParseUsage(usage);
        }

        if (!root.TryGetProperty("candidates", out var candidates) || candidates.ValueKind != JsonValueKind.Array || candidates.GetArrayLength() == 0)
        {
            // A usage-only chunk, or a blocked prompt.
            GeminiFormatChecks.ThrowIfPromptBlocked(root, provider);
            return false;
        }

        var candidate = candidates[0];
        if (candidate.TryGetProperty("content", out var content) && content.TryGetProperty("parts", out var parts) && parts.ValueKind == JsonValueKind.Array)
        {
            foreach (var part in parts.EnumerateArray())
            {
                if (GeminiFormat.IsThought(part))
                {
                    continue;
                }

                if (OpenAIChatFormat.StringOf(part, "text") is { Length: > 0 } text)
                {
                    _tally.Add(text);
                    output.Add(new CompletionChunk { Delta = new TextDelta { Text = text } });
                }
                else if (part.TryGetProperty("functionCall", out var fc))
                {
                    var call = GeminiFormat.ToolCallOf(fc);
                    _tally.Break();
                    _tally.Add(call.Name);
                    _tally.Break();
                    _tally.Add(call.ArgumentsJson);
                    output.Add(new CompletionChunk
                    {
                        ToolCallDelta = new ToolCallDelta { Index = _toolCalls++, Id = call.Id, Name = call.Name, ArgumentsDelta = call.ArgumentsJson },
                    });
                }
            }
        }

        if (OpenAIChatFormat.StringOf(candidate, "finishReason") is { Length: > 0 } reason && reason != "FINISH_REASON_UNSPECIFIED")
        {
            var finish = GeminiFormat.MapFinish(reason, _toolCalls > 0);
            output.Add(new CompletionChunk { Usage = _usage ?? _tally.Estimate(request) });
            output.Add(new CompletionChunk { Finish = new Finish { Reason = finish } });
            return true;
        }

        return false;
    }
}

internal static class GeminiFormatChecks
{
    public static void ThrowIfPromptBlocked(JsonElement root, string provider)
    {
        if (root.TryGetProperty("promptFeedback", out var feedback) && OpenAIChatFormat.StringOf(feedback, "blockReason") is { } reason)
        {
            throw new ProviderException(ProviderErrorKind.ContentFiltered, $"{provider} blocked the prompt (promptFeedback.blockReason {reason}).");
        }
    }
}
