using System.Text;
using System.Text.Json;
using Gateway.V1;

namespace Gateway.Grpc.Server.Rest;

/// <summary>Writes gateway.v1 results in OpenAI's chat-completions shapes.</summary>
internal static class OpenAiResponseWriter
{
    /// <summary>A whole <c>chat.completion</c> object.</summary>
    public static void WriteCompletion(Utf8JsonWriter writer, CompletionResponse response)
    {
        writer.WriteStartObject();
        writer.WriteString("id", response.Id);
        writer.WriteString("object", "chat.completion");
        writer.WriteNumber("created", response.Created);
        writer.WriteString("model", response.Model);
        writer.WriteStartArray("choices");
        writer.WriteStartObject();
        writer.WriteNumber("index", 0);
        writer.WriteStartObject("message");
        writer.WriteString("role", "assistant");
        var message = response.Message ?? new Message();
        var text = TextOf(message);
        if (text.Length == 0 && message.ToolCalls.Count > 0)
        {
            writer.WriteNull("content");
        }
        else
        {
            writer.WriteString("content", text);
        }

        writer.WriteNull("refusal");
        if (message.ToolCalls.Count > 0)
        {
            writer.WriteStartArray("tool_calls");
            for (var callIndex = 0; callIndex < message.ToolCalls.Count; callIndex++)
            {
                var call = message.ToolCalls[callIndex];
                writer.WriteStartObject();
                writer.WriteString("id", call.Id);
                writer.WriteString("type", "function");
                writer.WriteStartObject("function");
                writer.WriteString("name", call.Name);
                writer.WriteString("arguments", call.ArgumentsJson);
                writer.WriteEndObject();
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        writer.WriteEndObject();
        writer.WriteNull("logprobs");
        writer.WriteString("finish_reason", FinishReasonName(response.FinishReason));
        writer.WriteEndObject();
        writer.WriteEndArray();
        WriteUsage(writer, response.Usage ?? new Usage());
        writer.WriteNull("system_fingerprint");
        writer.WriteEndObject();
    }

    public static void WriteUsage(Utf8JsonWriter writer, Usage usage)
    {
        writer.WriteStartObject("usage");
        writer.WriteNumber("prompt_tokens", usage.InputTokens);
        writer.WriteNumber("completion_tokens", usage.OutputTokens);
        writer.WriteNumber("total_tokens", (long)usage.InputTokens + usage.OutputTokens);
        writer.WriteStartObject("prompt_tokens_details");
        writer.WriteNumber("cached_tokens", usage.CachedInputTokens);
        writer.WriteEndObject();
        writer.WriteStartObject("completion_tokens_details");
        writer.WriteNumber("reasoning_tokens", usage.ReasoningTokens);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    public static string FinishReasonName(FinishReason reason) => reason switch
    {
        FinishReason.Length => "length",
        FinishReason.ToolCalls => "tool_calls",
        FinishReason.ContentFilter => "content_filter",
        _ => "stop",
    };

    /// <summary>Opens a <c>chat.completion.chunk</c> up to the inside of its only choice.</summary>
    public static void BeginChunk(Utf8JsonWriter writer, in StreamIdentity identity)
    {
        writer.WriteStartObject();
        writer.WriteString("id", identity.Id);
        writer.WriteString("object", "chat.completion.chunk");
        writer.WriteNumber("created", identity.Created);
        writer.WriteString("model", identity.Model);
        writer.WriteNull("system_fingerprint");
        writer.WriteStartArray("choices");
        writer.WriteStartObject();
        writer.WriteNumber("index", 0);
    }

    /// <summary>Closes a chunk opened by <see cref="BeginChunk"/>.</summary>
    public static void EndChunk(Utf8JsonWriter writer, string? finishReason, bool includeUsageField)
    {
        writer.WriteNull("logprobs");
        if (finishReason is null)
        {
            writer.WriteNull("finish_reason");
        }
        else
        {
            writer.WriteString("finish_reason", finishReason);
        }

        writer.WriteEndObject();
        writer.WriteEndArray();
        if (includeUsageField)
        {
            // With stream_options.include_usage every chunk carries "usage": null but the last.
            writer.WriteNull("usage");
        }

        writer.WriteEndObject();
    }

    /// <summary>The final usage chunk: empty choices, the usage totals.</summary>
    public static void WriteUsageChunk(Utf8JsonWriter writer, in StreamIdentity identity, Usage usage)
    {
        writer.WriteStartObject();
        writer.WriteString("id", identity.Id);
        writer.WriteString("object", "chat.completion.chunk");
        writer.WriteNumber("created", identity.Created);
        writer.WriteString("model", identity.Model);
        writer.WriteNull("system_fingerprint");
        writer.WriteStartArray("choices");
        writer.WriteEndArray();
        WriteUsage(writer, usage);
        writer.WriteEndObject();
    }

    private static string TextOf(Message message)
    {
        if (message.Parts.Count == 0)
        {
            return message.Content;
        }

        var text = new StringBuilder(message.Content);
        for (var partIndex = 0; partIndex < message.Parts.Count; partIndex++)
        {
            var part = message.Parts[partIndex];
            if (part.PartCase == ContentPart.PartOneofCase.Text)
            {
                text.Append(part.Text);
            }
        }

        return text.ToString();
    }
}

/// <summary>What every chunk of one stream repeats: id, created, model.</summary>
internal readonly record struct StreamIdentity(string Id, long Created, string Model);
