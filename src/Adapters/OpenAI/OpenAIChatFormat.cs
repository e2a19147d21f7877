using System.Text;
using System.Text.Json;
using Gateway.Grpc.Adapters.Http;
using Gateway.V1;

namespace Gateway.Grpc.Adapters.OpenAI;

/// <summary>How a flavour of the Chat Completions API wants the request written.</summary>
internal sealed record OpenAIRequestOptions(string? Model, string MaxTokensField, bool Stream, bool IncludeStreamUsage);

/// <summary>
/// The Chat Completions wire format (POST /v1/chat/completions): request writing and response
/// reading, shared by OpenAI, OpenAI-compatible servers and Azure OpenAI.
/// </summary>
internal static class OpenAIChatFormat
{
    public static void WriteRequest(Utf8JsonWriter w, CompletionRequest request, OpenAIRequestOptions options)
    {
        w.WriteStartObject();
        if (options.Model is not null)
        {
            w.WriteString("model", options.Model);
        }

        w.WriteStartArray("messages");
        for (var messageIndex = 0; messageIndex < request.Messages.Count; messageIndex++)
        {
            var message = request.Messages[messageIndex];
            WriteMessage(w, message);
        }

        w.WriteEndArray();
        if (request.HasMaxTokens)
        {
            w.WriteNumber(options.MaxTokensField, request.MaxTokens);
        }

        if (request.HasTemperature)
        {
            w.WriteNumber("temperature", request.Temperature);
        }

        if (request.HasTopP)
        {
            w.WriteNumber("top_p", request.TopP);
        }

        if (request.Stop.Count > 0)
        {
            w.WriteStartArray("stop");
            for (var stopIndex = 0; stopIndex < request.Stop.Count; stopIndex++)
            {
                var stop = request.Stop[stopIndex];
                w.WriteStringValue(stop);
            }

            w.WriteEndArray();
        }

        if (request.HasSeed)
        {
            w.WriteNumber("seed", request.Seed);
        }

        if (request.User.Length > 0)
        {
            w.WriteString("user", request.User);
        }

        if (request.Tools.Count > 0)
        {
            w.WriteStartArray("tools");
            for (var toolIndex = 0; toolIndex < request.Tools.Count; toolIndex++)
            {
                var tool = request.Tools[toolIndex];
                w.WriteStartObject();
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", tool.Name);
                if (tool.Description.Length > 0)
                {
                    w.WriteString("description", tool.Description);
                }

                w.WritePropertyName("parameters");
                JsonWriting.WriteStruct(w, tool.Parameters);
                if (tool.Strict)
                {
                    w.WriteBoolean("strict", true);
                }

                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        if (request.ToolChoice is { } choice && choice.ChoiceCase != ToolChoice.ChoiceOneofCase.None)
        {
            if (choice.ChoiceCase == ToolChoice.ChoiceOneofCase.FunctionName)
            {
                w.WriteStartObject("tool_choice");
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", choice.FunctionName);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            else if (choice.Mode != ToolChoiceMode.Unspecified)
            {
                w.WriteString("tool_choice", choice.Mode switch
                {
                    ToolChoiceMode.None => "none",
                    ToolChoiceMode.Required => "required",
                    _ => "auto",
                });
            }
        }

        WriteResponseFormat(w, request.ResponseFormat);
        if (options.Stream)
        {
            w.WriteBoolean("stream", true);
            if (options.IncludeStreamUsage)
            {
                w.WriteStartObject("stream_options");
                w.WriteBoolean("include_usage", true);
                w.WriteEndObject();
            }
        }

        w.WriteEndObject();
    }

    private static void WriteResponseFormat(Utf8JsonWriter w, ResponseFormat? format)
    {
        switch (format?.Type ?? ResponseFormatType.Unspecified)
        {
            case ResponseFormatType.Text:
                w.WriteStartObject("response_format");
                w.WriteString("type", "text");
                w.WriteEndObject();
                break;
            case ResponseFormatType.JsonObject:
                w.WriteStartObject("response_format");
                w.WriteString("type", "json_object");
                w.WriteEndObject();
                break;
            case ResponseFormatType.JsonSchema:
                var schema = format!.JsonSchema ?? new JsonSchema();
                w.WriteStartObject("response_format");
                w.WriteString("type", "json_schema");
                w.WriteStartObject("json_schema");
                w.WriteString("name", schema.Name.Length > 0 ? schema.Name : "response");
                if (schema.Description.Length > 0)
                {
                    w.WriteString("description", schema.Description);
                }

                w.WritePropertyName("schema");
                JsonWriting.WriteStruct(w, schema.Schema);
                if (schema.Strict)
                {
                    w.WriteBoolean("strict", true);
                }

                w.WriteEndObject();
                w.WriteEndObject();
                break;
        }
    }

    private static void WriteMessage(Utf8JsonWriter w, Message message)
    {
        w.WriteStartObject();
        switch (message.Role)
        {
            case Role.System:
                w.WriteString("role", "system");
                w.WriteString("content", TextOf(message));
                break;
            case Role.Assistant:
                w.WriteString("role", "assistant");
                var text = TextOf(message);
                if (text.Length > 0 || message.ToolCalls.Count == 0)
                {
                    w.WriteString("content", text);
                }
                else
                {
                    w.WriteNull("content");
                }

                if (message.ToolCalls.Count > 0)
                {
                    w.WriteStartArray("tool_calls");
                    for (var callIndex = 0; callIndex < message.ToolCalls.Count; callIndex++)
                    {
                        var call = message.ToolCalls[callIndex];
                        w.WriteStartObject();
                        w.WriteString("id", call.Id);
                        w.WriteString("type", "function");
                        w.WriteStartObject("function");
                        w.WriteString("name", call.Name);
                        w.WriteString("arguments", call.ArgumentsJson.Length > 0 ? call.ArgumentsJson : "{}");
                        w.WriteEndObject();
                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                }

                break;
            case Role.Tool:
                w.WriteString("role", "tool");
                w.WriteString("tool_call_id", message.ToolCallId);
                w.WriteString("content", TextOf(message));
                break;
            default:
                w.WriteString("role", "user");
                WriteUserContent(w, message);
                break;
        }

        if (message.Name.Length > 0 && message.Role != Role.Tool)
        {
            w.WriteString("name", message.Name);
        }

        w.WriteEndObject();
    }

    private static void WriteUserContent(Utf8JsonWriter w, Message message)
    {
        var multimodal = false;
        for (var partIndex = 0; partIndex < message.Parts.Count; partIndex++)
        {
            var part = message.Parts[partIndex];
            if (part.PartCase != ContentPart.PartOneofCase.Text)
            {
                multimodal = true;
                break;
            }
        }

        if (!multimodal)
        {
            w.WriteString("content", TextOf(message));
            return;
        }

        w.WriteStartArray("content");
        if (message.Content.Length > 0)
        {
            WriteTextPart(w, message.Content);
        }

        for (var partIndex = 0; partIndex < message.Parts.Count; partIndex++)
        {
            var part = message.Parts[partIndex];
            switch (part.PartCase)
            {
                case ContentPart.PartOneofCase.Text:
                    WriteTextPart(w, part.Text);
                    break;
                case ContentPart.PartOneofCase.Image:
                    w.WriteStartObject();
                    w.WriteString("type", "image_url");
                    w.WriteStartObject("image_url");
                    w.WriteString("url", part.Image.SourceCase == ImagePart.SourceOneofCase.Data
                        ? "data:" + (part.Image.MediaType.Length > 0 ? part.Image.MediaType : "image/png") + ";base64," + Convert.ToBase64String(part.Image.Data.Span)
                        : part.Image.Url);
                    if (part.Image.Detail.Length > 0)
                    {
                        w.WriteString("detail", part.Image.Detail);
                    }

                    w.WriteEndObject();
                    w.WriteEndObject();
                    break;
                case ContentPart.PartOneofCase.Audio:
                    w.WriteStartObject();
                    w.WriteString("type", "input_audio");
                    w.WriteStartObject("input_audio");
                    w.WriteString("data", Convert.ToBase64String(part.Audio.Data.Span));
                    w.WriteString("format", part.Audio.Format.Length > 0 ? part.Audio.Format : "wav");
                    w.WriteEndObject();
                    w.WriteEndObject();
                    break;
            }
        }

        w.WriteEndArray();
    }

    private static void WriteTextPart(Utf8JsonWriter w, string text)
    {
        w.WriteStartObject();
        w.WriteString("type", "text");
        w.WriteString("text", text);
        w.WriteEndObject();
    }

    /// <summary><c>content</c> followed by the text parts.</summary>
    internal static string TextOf(Message message)
    {
        if (message.Parts.Count == 0)
        {
            return message.Content;
        }

        var sb = new StringBuilder(message.Content);
        for (var partIndex = 0; partIndex < message.Parts.Count; partIndex++)
        {
            var part = message.Parts[partIndex];
            if (part.PartCase == ContentPart.PartOneofCase.Text)
            {
                sb.Append(part.Text);
            }
        }

        return sb.ToString();
    }

    public static CompletionResponse ParseResponse(JsonElement root, ProviderCall call, string provider)
    {
        if (root.TryGetProperty("error", out var error) && error.ValueKind != JsonValueKind.Null)
        {
            throw UpstreamErrorClassifier.Create(provider, 0, UpstreamErrorInfo.From(root), null);
        }

        if (!root.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array || choices.GetArrayLength() == 0)
        {
            throw new ProviderException(ProviderErrorKind.ServerError, $"{provider} answered without choices.");
        }

        var choice = choices[0];
        var message = new Message { Role = Role.Assistant };
        var finish = FinishReason.Stop;
        if (choice.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.Object)
        {
            var refused = false;
            if (m.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            {
                message.Content = content.GetString()!;
            }

            if (m.TryGetProperty("refusal", out var refusal) && refusal.ValueKind == JsonValueKind.String && message.Content.Length == 0)
            {
                // Structured-output refusals carry the model's explanation instead of content.
                message.Content = refusal.GetString()!;
                refused = true;
            }

            if (m.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
            {
                foreach (var toolCall in calls.EnumerateArray())
                {
                    var function = toolCall.GetProperty("function");
                    message.ToolCalls.Add(new ToolCall
                    {
                        Id = StringOf(toolCall, "id") ?? "",
                        Name = StringOf(function, "name") ?? "",
                        ArgumentsJson = ArgumentsOf(function),
                    });
                }
            }

            finish = refused ? FinishReason.ContentFilter : MapFinish(StringOf(choice, "finish_reason"), message.ToolCalls.Count > 0);
        }

        var usage = root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object
            ? ParseUsage(u)
            : EstimateUnary(call.Request, message);
        return new CompletionResponse
        {
            Model = StringOf(root, "model") is { Length: > 0 } model ? model : call.Deployment.UpstreamModel,
            Provider = provider,
            Message = message,
            FinishReason = finish,
            Usage = usage,
        };
    }

    private static Usage EstimateUnary(CompletionRequest request, Message message)
    {
        var tally = new OutputTally();
        tally.Add(message.Content);
        for (var callIndex = 0; callIndex < message.ToolCalls.Count; callIndex++)
        {
            var call = message.ToolCalls[callIndex];
            tally.Break();
            tally.Add(call.Name);
            tally.Break();
            tally.Add(call.ArgumentsJson);
        }

        return tally.Estimate(request);
    }

    public static Usage ParseUsage(JsonElement u)
    {
        var usage = new Usage
        {
            InputTokens = IntOf(u, "prompt_tokens"),
            OutputTokens = IntOf(u, "completion_tokens"),
        };
        if (u.TryGetProperty("prompt_tokens_details", out var p) && p.ValueKind == JsonValueKind.Object)
        {
            usage.CachedInputTokens = IntOf(p, "cached_tokens");
        }

        if (u.TryGetProperty("completion_tokens_details", out var c) && c.ValueKind == JsonValueKind.Object)
        {
            usage.ReasoningTokens = IntOf(c, "reasoning_tokens");
        }

        return usage;
    }

    public static FinishReason MapFinish(string? reason, bool hasToolCalls) => reason switch
    {
        "length" => FinishReason.Length,
        "tool_calls" or "function_call" => FinishReason.ToolCalls,
        "content_filter" => FinishReason.ContentFilter,
        "stop" or "eos" or "end_turn" => hasToolCalls ? FinishReason.ToolCalls : FinishReason.Stop,
        _ => hasToolCalls ? FinishReason.ToolCalls : FinishReason.Stop,
    };

    internal static string? StringOf(JsonElement obj, string name)
        => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    internal static int IntOf(JsonElement obj, string name)
        => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : 0;

    /// <summary>Arguments are a JSON string per the API; some servers send an object instead.</summary>
    private static string ArgumentsOf(JsonElement function)
    {
        if (!function.TryGetProperty("arguments", out var args))
        {
            return "";
        }

        return args.ValueKind switch
        {
            JsonValueKind.String => args.GetString()!,
            JsonValueKind.Object => args.GetRawText(),
            _ => "",
        };
    }

    internal static string ArgumentsDeltaOf(JsonElement function) => ArgumentsOf(function);
}
