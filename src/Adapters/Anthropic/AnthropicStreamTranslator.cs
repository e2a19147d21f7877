using System.Text.Json;
using Gateway.Grpc.Adapters.Http;
using Gateway.Grpc.Adapters.OpenAI;
using Gateway.Grpc.Adapters.Streaming;
using Gateway.V1;

namespace Gateway.Grpc.Adapters.Anthropic;

/// <summary>
/// Messages API stream events to gateway events: message_start (input usage),
/// content_block_start/delta/stop (text_delta, input_json_delta; thinking is dropped),
/// message_delta (stop_reason, cumulative usage), ping, error, and message_stop, the terminal event.
/// </summary>
internal sealed class AnthropicStreamTranslator(CompletionRequest request, Func<JsonElement, ProviderException> streamError) : StreamTranslator
{
    private readonly string? _structuredTool = AnthropicFormat.StructuredToolName(request);
    private readonly AnthropicUsage _usage = new();
    private readonly Dictionary<int, int> _toolIndexByBlock = [];
    private int _structuredBlock = -1;
    private string? _stopReason;

    public override string TerminalEventName => "message_stop";

    public override bool OnEvent(SseReader sse, List<CompletionChunk> output)
    {
        // The event name repeats the data's "type"; "ping" needs no parse.
        if (sse.EventName == "ping")
        {
            return false;
        }

        var reader = new Utf8JsonReader(sse.Data.Span);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        switch (OpenAIChatFormat.StringOf(root, "type") ?? sse.EventName)
        {
            case "message_start":
                if (root.TryGetProperty("message", out var message) && message.TryGetProperty("usage", out var startUsage))
                {
                    AnthropicFormat.ReadUsage(startUsage, _usage);
                }

                return false;
            case "content_block_start":
                OnBlockStart(root, output);
                return false;
            case "content_block_delta":
                OnBlockDelta(root, output);
                return false;
            case "message_delta":
                if (root.TryGetProperty("delta", out var delta) && OpenAIChatFormat.StringOf(delta, "stop_reason") is { } reason)
                {
                    _stopReason = reason;
                }

                if (root.TryGetProperty("usage", out var usage))
                {
                    AnthropicFormat.ReadUsage(usage, _usage);
                }

                return false;
            case "message_stop":
                output.Add(new CompletionChunk { Usage = _usage.ToUsage() });
                output.Add(new CompletionChunk { Finish = new Finish { Reason = AnthropicFormat.MapStopReason(_stopReason, _structuredBlock >= 0) } });
                return true;
            case "error":
                throw streamError(root);
            default:
                // content_block_stop, ping, and event types added later (the API's versioning policy says to ignore them).
                return false;
        }
    }

    private void OnBlockStart(JsonElement root, List<CompletionChunk> output)
    {
        var index = OpenAIChatFormat.IntOf(root, "index");
        if (!root.TryGetProperty("content_block", out var block))
        {
            return;
        }

        switch (OpenAIChatFormat.StringOf(block, "type"))
        {
            case "text":
                if (OpenAIChatFormat.StringOf(block, "text") is { Length: > 0 } text)
                {
                    output.Add(new CompletionChunk { Delta = new TextDelta { Text = text } });
                }

                break;
            case "tool_use":
                var name = OpenAIChatFormat.StringOf(block, "name") ?? "";
                if (_structuredTool is not null && name == _structuredTool)
                {
                    _structuredBlock = index;
                    break;
                }

                var toolIndex = _toolIndexByBlock.Count;
                _toolIndexByBlock[index] = toolIndex;
                output.Add(new CompletionChunk
                {
                    ToolCallDelta = new ToolCallDelta { Index = toolIndex, Id = OpenAIChatFormat.StringOf(block, "id") ?? "", Name = name },
                });
                break;
        }
    }

    private void OnBlockDelta(JsonElement root, List<CompletionChunk> output)
    {
        var index = OpenAIChatFormat.IntOf(root, "index");
        if (!root.TryGetProperty("delta", out var delta))
        {
            return;
        }

        switch (OpenAIChatFormat.StringOf(delta, "type"))
        {
            case "text_delta":
                if (OpenAIChatFormat.StringOf(delta, "text") is { Length: > 0 } text)
                {
                    output.Add(new CompletionChunk { Delta = new TextDelta { Text = text } });
                }

                break;
            case "input_json_delta":
                if (OpenAIChatFormat.StringOf(delta, "partial_json") is not { Length: > 0 } json)
                {
                    break;
                }

                if (index == _structuredBlock)
                {
                    output.Add(new CompletionChunk { Delta = new TextDelta { Text = json } });
                }
                else if (_toolIndexByBlock.TryGetValue(index, out var toolIndex))
                {
                    output.Add(new CompletionChunk { ToolCallDelta = new ToolCallDelta { Index = toolIndex, ArgumentsDelta = json } });
                }

                break;
        }
    }
}
