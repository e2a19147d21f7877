using System.Text;
using System.Text.Json;
using Gateway.Grpc.Adapters.Http;
using Gateway.Grpc.Adapters.OpenAI;
using Gateway.V1;

namespace Gateway.Grpc.Adapters.Anthropic;

/// <summary>
/// The Messages API wire format (POST /v1/messages). System messages go to the top-level
/// <c>system</c>; consecutive messages of one role are merged (the API wants user and assistant
/// turns to alternate); tool results are <c>tool_result</c> blocks in a user turn.
/// Structured output: <c>json_schema</c> becomes a forced tool whose input is the answer
/// (returned as text); <c>json_object</c>, or a schema alongside the caller's own tools, becomes
/// an instruction in the system prompt.
/// </summary>
internal static class AnthropicFormat
{
    public const string DefaultStructuredToolName = "json_response";

    /// <summary>The synthetic tool used for json_schema output, or null when none is used.</summary>
    public static string? StructuredToolName(CompletionRequest request)
        => request.ResponseFormat?.Type == ResponseFormatType.JsonSchema && request.Tools.Count == 0
            ? (request.ResponseFormat.JsonSchema?.Name is { Length: > 0 } name ? name : DefaultStructuredToolName)
            : null;

    public static void WriteRequest(Utf8JsonWriter w, CompletionRequest request, string model, int defaultMaxTokens, bool stream)
    {
        ValidateInput(request);
        var structuredTool = StructuredToolName(request);
        w.WriteStartObject();
        w.WriteString("model", model);
        w.WriteNumber("max_tokens", request.HasMaxTokens && request.MaxTokens > 0 ? request.MaxTokens : defaultMaxTokens);
        var system = SystemText(request, structuredTool is null);
        if (system.Length > 0)
        {
            w.WriteString("system", system);
        }

        WriteMessages(w, request);
        if (request.HasTemperature)
        {
            // Anthropic's range is 0..1; ours is OpenAI's 0..2.
            w.WriteNumber("temperature", Math.Clamp(request.Temperature, 0, 1));
        }

        if (request.HasTopP)
        {
            w.WriteNumber("top_p", request.TopP);
        }

        if (request.Stop.Count > 0)
        {
            w.WriteStartArray("stop_sequences");
            foreach (var stop in request.Stop)
            {
                w.WriteStringValue(stop);
            }

            w.WriteEndArray();
        }

        if (request.User.Length > 0)
        {
            w.WriteStartObject("metadata");
            w.WriteString("user_id", request.User);
            w.WriteEndObject();
        }

        if (structuredTool is not null)
        {
            var schema = request.ResponseFormat.JsonSchema;
            w.WriteStartArray("tools");
            w.WriteStartObject();
            w.WriteString("name", structuredTool);
            w.WriteString("description", schema?.Description is { Length: > 0 } d ? d : "Give the answer as this tool's input, which follows the required JSON schema.");
            w.WritePropertyName("input_schema");
            JsonWriting.WriteStruct(w, schema?.Schema);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteStartObject("tool_choice");
            w.WriteString("type", "tool");
            w.WriteString("name", structuredTool);
            w.WriteEndObject();
        }
        else if (request.Tools.Count > 0)
        {
            w.WriteStartArray("tools");
            foreach (var tool in request.Tools)
            {
                w.WriteStartObject();
                w.WriteString("name", tool.Name);
                if (tool.Description.Length > 0)
                {
                    w.WriteString("description", tool.Description);
                }

                w.WritePropertyName("input_schema");
                if (tool.Parameters is null || tool.Parameters.Fields.Count == 0)
                {
                    // input_schema is required and must be an object schema.
                    w.WriteStartObject();
                    w.WriteString("type", "object");
                    w.WriteEndObject();
                }
                else
                {
                    JsonWriting.WriteStruct(w, tool.Parameters);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (request.ToolChoice is { } choice && choice.ChoiceCase != ToolChoice.ChoiceOneofCase.None)
            {
                w.WriteStartObject("tool_choice");
                if (choice.ChoiceCase == ToolChoice.ChoiceOneofCase.FunctionName)
                {
                    w.WriteString("type", "tool");
                    w.WriteString("name", choice.FunctionName);
                }
                else
                {
                    w.WriteString("type", choice.Mode switch
                    {
                        ToolChoiceMode.Required => "any",
                        ToolChoiceMode.None => "none",
                        _ => "auto",
                    });
                }

                w.WriteEndObject();
            }
        }

        if (stream)
        {
            w.WriteBoolean("stream", true);
        }

        w.WriteEndObject();
    }

    private static void ValidateInput(CompletionRequest request)
    {
        foreach (var message in request.Messages)
        {
            foreach (var part in message.Parts)
            {
                if (part.PartCase == ContentPart.PartOneofCase.Audio)
                {
                    throw new ProviderException(ProviderErrorKind.BadRequest, "messages: Anthropic does not accept audio input; remove the audio part or route to a provider that does.");
                }
            }
        }
    }

    private static string SystemText(CompletionRequest request, bool jsonInstruction)
    {
        var sb = new StringBuilder();
        foreach (var message in request.Messages)
        {
            if (message.Role == Role.System)
            {
                var text = OpenAIChatFormat.TextOf(message);
                if (text.Length > 0)
                {
                    if (sb.Length > 0)
                    {
                        sb.Append("\n\n");
                    }

                    sb.Append(text);
                }
            }
        }

        var format = request.ResponseFormat?.Type ?? ResponseFormatType.Unspecified;
        if (jsonInstruction && format is ResponseFormatType.JsonObject or ResponseFormatType.JsonSchema)
        {
            if (sb.Length > 0)
            {
                sb.Append("\n\n");
            }

            sb.Append("Respond with a single JSON object and nothing else: no prose, no code fences.");
            if (format == ResponseFormatType.JsonSchema && request.ResponseFormat!.JsonSchema?.Schema is { } schema)
            {
                sb.Append(" The object must match this JSON schema: ").Append(Google.Protobuf.JsonFormatter.Default.Format(schema));
            }
        }

        return sb.ToString();
    }

    private static string RoleOf(Message message) => message.Role == Role.Assistant ? "assistant" : "user";

    private static void WriteMessages(Utf8JsonWriter w, CompletionRequest request)
    {
        w.WriteStartArray("messages");
        string? openRole = null;
        foreach (var message in request.Messages)
        {
            if (message.Role == Role.System)
            {
                continue;
            }

            var role = RoleOf(message);
            if (role != openRole)
            {
                if (openRole is not null)
                {
                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteStartObject();
                w.WriteString("role", role);
                w.WriteStartArray("content");
                openRole = role;
            }

            WriteBlocks(w, message);
        }

        if (openRole is not null)
        {
            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteBlocks(Utf8JsonWriter w, Message message)
    {
        if (message.Role == Role.Tool)
        {
            w.WriteStartObject();
            w.WriteString("type", "tool_result");
            w.WriteString("tool_use_id", message.ToolCallId);
            w.WriteString("content", OpenAIChatFormat.TextOf(message));
            w.WriteEndObject();
            return;
        }

        // The API refuses empty text blocks.
        if (message.Content.Length > 0)
        {
            WriteText(w, message.Content);
        }

        foreach (var part in message.Parts)
        {
            switch (part.PartCase)
            {
                case ContentPart.PartOneofCase.Text when part.Text.Length > 0:
                    WriteText(w, part.Text);
                    break;
                case ContentPart.PartOneofCase.Image:
                    WriteImage(w, part.Image);
                    break;
            }
        }

        foreach (var call in message.ToolCalls)
        {
            w.WriteStartObject();
            w.WriteString("type", "tool_use");
            w.WriteString("id", call.Id);
            w.WriteString("name", call.Name);
            w.WritePropertyName("input");
            JsonWriting.WriteArgumentsObject(w, call.ArgumentsJson, "Anthropic");
            w.WriteEndObject();
        }
    }

    private static void WriteText(Utf8JsonWriter w, string text)
    {
        w.WriteStartObject();
        w.WriteString("type", "text");
        w.WriteString("text", text);
        w.WriteEndObject();
    }

    private static void WriteImage(Utf8JsonWriter w, ImagePart image)
    {
        w.WriteStartObject();
        w.WriteString("type", "image");
        w.WriteStartObject("source");
        if (image.SourceCase == ImagePart.SourceOneofCase.Data)
        {
            w.WriteString("type", "base64");
            w.WriteString("media_type", image.MediaType.Length > 0 ? image.MediaType : "image/png");
            w.WriteString("data", Convert.ToBase64String(image.Data.Span));
        }
        else if (TryParseDataUrl(image.Url, out var mediaType, out var base64))
        {
            w.WriteString("type", "base64");
            w.WriteString("media_type", mediaType);
            w.WriteString("data", base64);
        }
        else
        {
            w.WriteString("type", "url");
            w.WriteString("url", image.Url);
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>data:[media];base64,XXXX (RFC 2397), the form OpenAI clients send images in.</summary>
    internal static bool TryParseDataUrl(string url, out string mediaType, out string base64)
    {
        mediaType = "";
        base64 = "";
        if (!url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var comma = url.IndexOf(',', StringComparison.Ordinal);
        if (comma < 0)
        {
            return false;
        }

        var header = url.AsSpan(5, comma - 5);
        if (!header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
        {
            throw new ProviderException(ProviderErrorKind.BadRequest, "messages: image data URLs must be base64-encoded (data:<type>;base64,...).");
        }

        mediaType = header[..^";base64".Length].ToString();
        if (mediaType.Length == 0)
        {
            mediaType = "image/png";
        }

        base64 = url[(comma + 1)..];
        return true;
    }

    public static CompletionResponse ParseResponse(JsonElement root, ProviderCall call, string provider)
    {
        if (OpenAIChatFormat.StringOf(root, "type") == "error")
        {
            throw UpstreamErrorClassifier.Create(provider, 0, UpstreamErrorInfo.From(root), null);
        }

        var structuredTool = StructuredToolName(call.Request);
        var message = new Message { Role = Role.Assistant };
        var text = new StringBuilder();
        var sawStructured = false;
        foreach (var block in root.GetProperty("content").EnumerateArray())
        {
            switch (OpenAIChatFormat.StringOf(block, "type"))
            {
                case "text":
                    text.Append(OpenAIChatFormat.StringOf(block, "text"));
                    break;
                case "tool_use":
                    var name = OpenAIChatFormat.StringOf(block, "name") ?? "";
                    var input = block.TryGetProperty("input", out var i) ? i.GetRawText() : "{}";
                    if (structuredTool is not null && name == structuredTool)
                    {
                        text.Append(input);
                        sawStructured = true;
                    }
                    else
                    {
                        message.ToolCalls.Add(new ToolCall { Id = OpenAIChatFormat.StringOf(block, "id") ?? "", Name = name, ArgumentsJson = input });
                    }

                    break;
            }
        }

        message.Content = text.ToString();
        return new CompletionResponse
        {
            Model = OpenAIChatFormat.StringOf(root, "model") ?? call.Deployment.UpstreamModel,
            Provider = provider,
            Message = message,
            FinishReason = MapStopReason(OpenAIChatFormat.StringOf(root, "stop_reason"), sawStructured),
            Usage = UsageOf(root),
        };
    }

    /// <summary>Reads the usage fields present in <paramref name="u"/> (message_delta repeats them cumulatively).</summary>
    public static void ReadUsage(JsonElement u, AnthropicUsage into)
    {
        if (u.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        into.Input = Read(u, "input_tokens") ?? into.Input;
        into.CacheRead = Read(u, "cache_read_input_tokens") ?? into.CacheRead;
        into.CacheWrite = Read(u, "cache_creation_input_tokens") ?? into.CacheWrite;
        into.Output = Read(u, "output_tokens") ?? into.Output;
    }

    private static int? Read(JsonElement obj, string name)
        => obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : null;

    public static FinishReason MapStopReason(string? reason, bool structured) => reason switch
    {
        "max_tokens" or "model_context_window_exceeded" => FinishReason.Length,
        "tool_use" => structured ? FinishReason.Stop : FinishReason.ToolCalls,
        "refusal" => FinishReason.ContentFilter,
        _ => FinishReason.Stop,
    };

    private static Usage UsageOf(JsonElement root)
    {
        var usage = new AnthropicUsage();
        if (root.TryGetProperty("usage", out var u))
        {
            ReadUsage(u, usage);
        }

        return usage.ToUsage();
    }
}

/// <summary>Anthropic's usage counters as they arrive.</summary>
internal sealed class AnthropicUsage
{
    public int Input { get; set; }

    public int CacheRead { get; set; }

    public int CacheWrite { get; set; }

    public int Output { get; set; }

    /// <summary>Anthropic's input_tokens excludes cache reads and writes; ours counts every input token.</summary>
    public Usage ToUsage() => new()
    {
        InputTokens = Input + CacheRead + CacheWrite,
        CachedInputTokens = CacheRead,
        OutputTokens = Output,
    };
}
