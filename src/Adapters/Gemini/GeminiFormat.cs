using System.Text;
using System.Text.Json;
using Gateway.Grpc.Adapters.Anthropic;
using Gateway.Grpc.Adapters.Http;
using Gateway.Grpc.Adapters.OpenAI;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;

namespace Gateway.Grpc.Adapters.Gemini;

/// <summary>
/// The Gemini API wire format (models/{model}:generateContent and :streamGenerateContent).
/// Roles are user/model; system messages become <c>systemInstruction</c>; tool results are
/// <c>functionResponse</c> parts in a user turn (named by the call they answer);
/// consecutive turns of one role are merged.
/// </summary>
internal static class GeminiFormat
{
    /// <summary>Keywords Gemini's OpenAPI-subset <c>Schema</c> accepts; others are dropped in openapi mode.</summary>
    private static readonly HashSet<string> OpenApiKeywords = new(StringComparer.Ordinal)
    {
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
        "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
        "default", "items", "minimum", "maximum",
    };

    public static void WriteRequest(Utf8JsonWriter w, CompletionRequest request, bool jsonSchemaMode)
    {
        w.WriteStartObject();
        WriteContents(w, request);
        var system = new StringBuilder();
        foreach (var message in request.Messages)
        {
            if (message.Role == Role.System)
            {
                if (system.Length > 0)
                {
                    system.Append("\n\n");
                }

                system.Append(OpenAIChatFormat.TextOf(message));
            }
        }

        if (system.Length > 0)
        {
            w.WriteStartObject("systemInstruction");
            w.WriteStartArray("parts");
            w.WriteStartObject();
            w.WriteString("text", system.ToString());
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }

        if (request.Tools.Count > 0)
        {
            w.WriteStartArray("tools");
            w.WriteStartObject();
            w.WriteStartArray("functionDeclarations");
            foreach (var tool in request.Tools)
            {
                w.WriteStartObject();
                w.WriteString("name", tool.Name);
                if (tool.Description.Length > 0)
                {
                    w.WriteString("description", tool.Description);
                }

                if (tool.Parameters is { Fields.Count: > 0 } parameters)
                {
                    WriteSchema(w, jsonSchemaMode ? "parametersJsonSchema" : "parameters", parameters, jsonSchemaMode);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            WriteToolConfig(w, request.ToolChoice);
        }

        w.WriteStartObject("generationConfig");
        if (request.HasTemperature)
        {
            w.WriteNumber("temperature", request.Temperature);
        }

        if (request.HasTopP)
        {
            w.WriteNumber("topP", request.TopP);
        }

        if (request.HasMaxTokens)
        {
            w.WriteNumber("maxOutputTokens", request.MaxTokens);
        }

        if (request.Stop.Count > 0)
        {
            w.WriteStartArray("stopSequences");
            foreach (var stop in request.Stop)
            {
                w.WriteStringValue(stop);
            }

            w.WriteEndArray();
        }

        if (request.HasSeed)
        {
            // Gemini's seed is an int32.
            w.WriteNumber("seed", unchecked((int)request.Seed));
        }

        switch (request.ResponseFormat?.Type ?? ResponseFormatType.Unspecified)
        {
            case ResponseFormatType.JsonObject:
                w.WriteString("responseMimeType", "application/json");
                break;
            case ResponseFormatType.JsonSchema:
                w.WriteString("responseMimeType", "application/json");
                if (request.ResponseFormat!.JsonSchema?.Schema is { } schema)
                {
                    WriteSchema(w, jsonSchemaMode ? "responseJsonSchema" : "responseSchema", schema, jsonSchemaMode);
                }

                break;
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteToolConfig(Utf8JsonWriter w, ToolChoice? choice)
    {
        if (choice is null || choice.ChoiceCase == ToolChoice.ChoiceOneofCase.None)
        {
            return;
        }

        w.WriteStartObject("toolConfig");
        w.WriteStartObject("functionCallingConfig");
        if (choice.ChoiceCase == ToolChoice.ChoiceOneofCase.FunctionName)
        {
            w.WriteString("mode", "ANY");
            w.WriteStartArray("allowedFunctionNames");
            w.WriteStringValue(choice.FunctionName);
            w.WriteEndArray();
        }
        else
        {
            w.WriteString("mode", choice.Mode switch
            {
                ToolChoiceMode.Required => "ANY",
                ToolChoiceMode.None => "NONE",
                _ => "AUTO",
            });
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteContents(Utf8JsonWriter w, CompletionRequest request)
    {
        var callNames = new Dictionary<string, string>(StringComparer.Ordinal);
        w.WriteStartArray("contents");
        string? openRole = null;
        foreach (var message in request.Messages)
        {
            if (message.Role == Role.System)
            {
                continue;
            }

            var role = message.Role == Role.Assistant ? "model" : "user";
            if (role != openRole)
            {
                if (openRole is not null)
                {
                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteStartObject();
                w.WriteString("role", role);
                w.WriteStartArray("parts");
                openRole = role;
            }

            WriteParts(w, message, callNames);
        }

        if (openRole is not null)
        {
            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteParts(Utf8JsonWriter w, Message message, Dictionary<string, string> callNames)
    {
        if (message.Role == Role.Tool)
        {
            var name = callNames.TryGetValue(message.ToolCallId, out var known) ? known
                : message.Name.Length > 0 ? message.Name
                : throw new ProviderException(ProviderErrorKind.BadRequest, $"messages: tool result '{message.ToolCallId}' answers no earlier tool call; Gemini needs the function's name (set the assistant tool call or the tool message's name).");
            w.WriteStartObject();
            w.WriteStartObject("functionResponse");
            w.WriteString("name", name);
            w.WritePropertyName("response");
            WriteFunctionResponse(w, OpenAIChatFormat.TextOf(message));
            w.WriteEndObject();
            w.WriteEndObject();
            return;
        }

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
                case ContentPart.PartOneofCase.Audio:
                    var format = part.Audio.Format.Length > 0 ? part.Audio.Format : "wav";
                    WriteInline(w, "audio/" + format, Convert.ToBase64String(part.Audio.Data.Span));
                    break;
            }
        }

        foreach (var call in message.ToolCalls)
        {
            callNames[call.Id] = call.Name;
            w.WriteStartObject();
            w.WriteStartObject("functionCall");
            w.WriteString("name", call.Name);
            w.WritePropertyName("args");
            JsonWriting.WriteArgumentsObject(w, call.ArgumentsJson, "Gemini");
            w.WriteEndObject();
            w.WriteEndObject();
        }
    }

    /// <summary>functionResponse.response must be an object: a JSON object result as is, anything else as {"result": ...}.</summary>
    private static void WriteFunctionResponse(Utf8JsonWriter w, string content)
    {
        JsonDocument? doc = null;
        try
        {
            doc = JsonDocument.Parse(content);
        }
        catch (JsonException)
        {
        }

        using (doc)
        {
            if (doc?.RootElement.ValueKind == JsonValueKind.Object)
            {
                doc.RootElement.WriteTo(w);
                return;
            }

            w.WriteStartObject();
            w.WritePropertyName("result");
            if (doc is not null)
            {
                doc.RootElement.WriteTo(w);
            }
            else
            {
                w.WriteStringValue(content);
            }

            w.WriteEndObject();
        }
    }

    private static void WriteText(Utf8JsonWriter w, string text)
    {
        w.WriteStartObject();
        w.WriteString("text", text);
        w.WriteEndObject();
    }

    private static void WriteInline(Utf8JsonWriter w, string mimeType, string base64)
    {
        w.WriteStartObject();
        w.WriteStartObject("inlineData");
        w.WriteString("mimeType", mimeType);
        w.WriteString("data", base64);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteImage(Utf8JsonWriter w, ImagePart image)
    {
        if (image.SourceCase == ImagePart.SourceOneofCase.Data)
        {
            WriteInline(w, image.MediaType.Length > 0 ? image.MediaType : "image/png", Convert.ToBase64String(image.Data.Span));
        }
        else if (AnthropicFormat.TryParseDataUrl(image.Url, out var mediaType, out var base64))
        {
            WriteInline(w, mediaType, base64);
        }
        else
        {
            w.WriteStartObject();
            w.WriteStartObject("fileData");
            w.WriteString("mimeType", image.MediaType.Length > 0 ? image.MediaType : GuessImageType(image.Url));
            w.WriteString("fileUri", image.Url);
            w.WriteEndObject();
            w.WriteEndObject();
        }
    }

    private static string GuessImageType(string url)
    {
        var path = url.Split('?', '#')[0];
        return Path.GetExtension(path).ToUpperInvariant() switch
        {
            ".PNG" => "image/png",
            ".GIF" => "image/gif",
            ".WEBP" => "image/webp",
            ".HEIC" => "image/heic",
            _ => "image/jpeg",
        };
    }

    private static void WriteSchema(Utf8JsonWriter w, string property, Struct schema, bool jsonSchemaMode)
    {
        w.WritePropertyName(property);
        if (jsonSchemaMode)
        {
            JsonWriting.WriteStruct(w, schema);
        }
        else
        {
            WriteOpenApiSchema(w, schema);
        }
    }

    /// <summary>
    /// JSON Schema to Gemini's OpenAPI 3.0 subset: unknown keywords ($schema, additionalProperties,
    /// $defs...) are dropped, and a type list like ["string","null"] becomes type + nullable.
    /// </summary>
    internal static void WriteOpenApiSchema(Utf8JsonWriter w, Struct schema)
    {
        w.WriteStartObject();
        foreach (var (key, value) in schema.Fields)
        {
            if (!OpenApiKeywords.Contains(key))
            {
                continue;
            }

            switch (key)
            {
                case "type" when value.KindCase == Value.KindOneofCase.ListValue:
                    string? type = null;
                    var nullable = false;
                    foreach (var t in value.ListValue.Values)
                    {
                        if (t.StringValue == "null")
                        {
                            nullable = true;
                        }
                        else
                        {
                            type ??= t.StringValue;
                        }
                    }

                    w.WriteString("type", type ?? "string");
                    if (nullable && !schema.Fields.ContainsKey("nullable"))
                    {
                        w.WriteBoolean("nullable", true);
                    }

                    break;
                case "properties" when value.KindCase == Value.KindOneofCase.StructValue:
                    w.WriteStartObject("properties");
                    foreach (var (name, propertySchema) in value.StructValue.Fields)
                    {
                        w.WritePropertyName(name);
                        WriteOpenApiSchemaValue(w, propertySchema);
                    }

                    w.WriteEndObject();
                    break;
                case "items":
                    w.WritePropertyName("items");
                    WriteOpenApiSchemaValue(w, value);
                    break;
                case "anyOf" when value.KindCase == Value.KindOneofCase.ListValue:
                    w.WriteStartArray("anyOf");
                    foreach (var option in value.ListValue.Values)
                    {
                        WriteOpenApiSchemaValue(w, option);
                    }

                    w.WriteEndArray();
                    break;
                default:
                    w.WritePropertyName(key);
                    JsonWriting.WriteValue(w, value);
                    break;
            }
        }

        w.WriteEndObject();
    }

    private static void WriteOpenApiSchemaValue(Utf8JsonWriter w, Value value)
    {
        if (value.KindCase == Value.KindOneofCase.StructValue)
        {
            WriteOpenApiSchema(w, value.StructValue);
        }
        else
        {
            JsonWriting.WriteValue(w, value);
        }
    }

    public static CompletionResponse ParseResponse(JsonElement root, ProviderCall call, string provider)
    {
        if (root.TryGetProperty("error", out _))
        {
            throw UpstreamErrorClassifier.Create(provider, 0, UpstreamErrorInfo.From(root), null);
        }

        var candidate = FirstCandidate(root, provider);
        var message = new Message { Role = Role.Assistant };
        var text = new StringBuilder();
        if (candidate.TryGetProperty("content", out var content) && content.TryGetProperty("parts", out var parts))
        {
            foreach (var part in parts.EnumerateArray())
            {
                if (IsThought(part))
                {
                    continue;
                }

                if (OpenAIChatFormat.StringOf(part, "text") is { } t)
                {
                    text.Append(t);
                }
                else if (part.TryGetProperty("functionCall", out var fc))
                {
                    message.ToolCalls.Add(ToolCallOf(fc));
                }
            }
        }

        message.Content = text.ToString();
        return new CompletionResponse
        {
            Model = OpenAIChatFormat.StringOf(root, "modelVersion") ?? call.Deployment.UpstreamModel,
            Provider = provider,
            Message = message,
            FinishReason = MapFinish(OpenAIChatFormat.StringOf(candidate, "finishReason"), message.ToolCalls.Count > 0),
            Usage = root.TryGetProperty("usageMetadata", out var usage) ? ParseUsage(usage) : new Usage(),
        };
    }

    /// <summary>The first candidate; a prompt blocked before generation has none and is an error.</summary>
    internal static JsonElement FirstCandidate(JsonElement root, string provider)
    {
        if (root.TryGetProperty("candidates", out var candidates) && candidates.ValueKind == JsonValueKind.Array && candidates.GetArrayLength() > 0)
        {
            return candidates[0];
        }

        if (root.TryGetProperty("promptFeedback", out var feedback) && OpenAIChatFormat.StringOf(feedback, "blockReason") is { } reason)
        {
            throw new ProviderException(ProviderErrorKind.ContentFiltered, $"{provider} blocked the prompt (promptFeedback.blockReason {reason}).");
        }

        throw new ProviderException(ProviderErrorKind.ServerError, $"{provider} answered without candidates.");
    }

    internal static bool IsThought(JsonElement part)
        => part.TryGetProperty("thought", out var thought) && thought.ValueKind == JsonValueKind.True;

    internal static ToolCall ToolCallOf(JsonElement functionCall) => new()
    {
        // Gemini names calls but ids are optional; make one so tool results can refer to it.
        Id = OpenAIChatFormat.StringOf(functionCall, "id") is { Length: > 0 } id ? id : "call_" + Guid.NewGuid().ToString("N")[..24],
        Name = OpenAIChatFormat.StringOf(functionCall, "name") ?? "",
        ArgumentsJson = functionCall.TryGetProperty("args", out var args) && args.ValueKind == JsonValueKind.Object ? args.GetRawText() : "{}",
    };

    public static Usage ParseUsage(JsonElement u)
    {
        var thoughts = OpenAIChatFormat.IntOf(u, "thoughtsTokenCount");
        return new Usage
        {
            InputTokens = OpenAIChatFormat.IntOf(u, "promptTokenCount") + OpenAIChatFormat.IntOf(u, "toolUsePromptTokenCount"),
            CachedInputTokens = OpenAIChatFormat.IntOf(u, "cachedContentTokenCount"),
            OutputTokens = OpenAIChatFormat.IntOf(u, "candidatesTokenCount") + thoughts,
            ReasoningTokens = thoughts,
        };
    }

    /// <summary>
    /// Safety-type stops (SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY)
    /// finish with CONTENT_FILTER; a malformed function call is a server error.
    /// </summary>
    public static FinishReason MapFinish(string? reason, bool hasToolCalls) => reason switch
    {
        "MAX_TOKENS" => FinishReason.Length,
        "SAFETY" or "RECITATION" or "BLOCKLIST" or "PROHIBITED_CONTENT" or "SPII" or "IMAGE_SAFETY" or "IMAGE_PROHIBITED_CONTENT" => FinishReason.ContentFilter,
        "MALFORMED_FUNCTION_CALL" or "UNEXPECTED_TOOL_CALL" => throw new ProviderException(ProviderErrorKind.ServerError, $"Gemini ended generation with {reason}: the model produced an invalid function call."),
        _ => hasToolCalls ? FinishReason.ToolCalls : FinishReason.Stop,
    };
}
