using System.Globalization;
using System.Text.Json;
using Gateway.Grpc.Server.Configuration;
using Gateway.V1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Gateway.Grpc.Server.Rest;

/// <summary>A request body that does not fit the OpenAI schema; names the field (as <c>param</c>) and the fix.</summary>
internal sealed class OpenAiRequestException(string param, string message) : Exception(message)
{
    public OpenAiRequestException()
        : this("", "Invalid request.")
    {
    }

    public OpenAiRequestException(string message)
        : this("", message)
    {
    }

    public OpenAiRequestException(string message, Exception innerException)
        : this("", message + " " + innerException.Message)
    {
    }

    public string Param { get; } = param;
}

/// <summary>A chat-completions request: the gateway request plus what only the HTTP layer uses.</summary>
internal sealed record ChatCompletionsRequest(CompletionRequest Request, bool Stream, bool IncludeUsage);

/// <summary>
/// Reads an OpenAI <c>POST /v1/chat/completions</c> body into a <see cref="CompletionRequest"/>.
/// Every type error names the JSON path (<c>messages[1].content</c>) and what was expected.
/// Fields OpenAI defines that the gateway does not use (frequency_penalty, logit_bias,
/// parallel_tool_calls, store, ...) are accepted and ignored, as unknown fields are, so the
/// official SDKs work unchanged; the ones whose meaning the gateway cannot honour (n &gt; 1,
/// logprobs) are refused.
/// </summary>
internal static class OpenAiRequestReader
{
    /// <summary>OpenAI's range for frequency_penalty and presence_penalty.</summary>
    private const double MaxPenalty = 2.0;

    public static ChatCompletionsRequest ReadChatCompletions(JsonElement root, RequestLimitOptions limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new OpenAiRequestException("", $"The request body must be a JSON object, got {Describe(root)}.");
        }

        try
        {
            return ReadObject(root, limits);
        }
        catch (InvalidOperationException)
        {
            // System.Text.Json refuses to turn an unpaired surrogate escape (\ud800) in a property
            // name into a string; string values are caught where they are read, with their path.
            throw new OpenAiRequestException("", "The request body holds a JSON key that is not valid Unicode (an unpaired surrogate escape such as \\ud800); send valid UTF-8 text.");
        }
    }

    private static ChatCompletionsRequest ReadObject(JsonElement root, RequestLimitOptions limits)
    {
        NoDuplicateKeys(root, "");

        var request = new CompletionRequest();
        var stream = false;
        var includeUsage = false;
        int? maxTokens = null;
        int? maxCompletionTokens = null;
        var sawModel = false;
        foreach (var property in root.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case "model":
                    request.Model = String(value, "model");
                    sawModel = true;
                    break;
                case "messages":
                    ReadMessages(value, request, limits);
                    break;
                case "tools":
                    ReadTools(value, request, limits);
                    break;
                case "tool_choice":
                    request.ToolChoice = ReadToolChoice(value);
                    break;
                case "response_format":
                    request.ResponseFormat = ReadResponseFormat(value);
                    break;
                case "temperature":
                    if (value.ValueKind != JsonValueKind.Null)
                    {
                        request.Temperature = Number(value, "temperature");
                    }

                    break;
                case "top_p":
                    if (value.ValueKind != JsonValueKind.Null)
                    {
                        request.TopP = Number(value, "top_p");
                    }

                    break;
                case "max_tokens":
                    maxTokens = NullableInt32(value, "max_tokens");
                    break;
                case "max_completion_tokens":
                    maxCompletionTokens = NullableInt32(value, "max_completion_tokens");
                    break;
                case "stop":
                    ReadStop(value, request);
                    break;
                case "seed":
                    if (value.ValueKind != JsonValueKind.Null)
                    {
                        request.Seed = Int64(value, "seed");
                    }

                    break;
                case "user":
                    if (value.ValueKind != JsonValueKind.Null)
                    {
                        request.User = String(value, "user");
                    }

                    break;
                case "n":
                    if (NullableInt32(value, "n") is { } n && n != 1)
                    {
                        throw new OpenAiRequestException("n", $"n: only 1 choice per request is supported, got {n}; send {n} requests instead.");
                    }

                    break;
                case "logprobs":
                    if (value.ValueKind == JsonValueKind.True)
                    {
                        throw new OpenAiRequestException("logprobs", "logprobs: not supported by the gateway; leave it unset or false.");
                    }

                    if (value.ValueKind is not (JsonValueKind.False or JsonValueKind.Null))
                    {
                        throw TypeError("logprobs", "a boolean", value);
                    }

                    break;
                case "stream":
                    stream = value.ValueKind switch
                    {
                        JsonValueKind.True => true,
                        JsonValueKind.False or JsonValueKind.Null => false,
                        _ => throw TypeError("stream", "a boolean", value),
                    };
                    break;
                case "stream_options":
                    includeUsage = ReadStreamOptions(value);
                    break;
                case "metadata":
                    ReadMetadata(value, request, limits);
                    break;
                case "frequency_penalty":
                case "presence_penalty":
                    // Accepted and not forwarded (the gateway's contract has no penalties), but
                    // checked as OpenAI checks them, so a typo fails here rather than silently.
                    if (value.ValueKind != JsonValueKind.Null && Math.Abs(Number(value, property.Name)) > MaxPenalty)
                    {
                        throw new OpenAiRequestException(property.Name, $"{property.Name}: must be between -2 and 2, got {value.GetRawText()}.");
                    }

                    break;
            }
        }

        if (!sawModel || string.IsNullOrWhiteSpace(request.Model))
        {
            throw new OpenAiRequestException("model", "model: is required; GET /v1/models lists the models you can use.");
        }

        if (request.Messages.Count == 0)
        {
            throw new OpenAiRequestException("messages", "messages: is required and must contain at least one message.");
        }

        if (maxTokens is { } a && maxCompletionTokens is { } b && a != b)
        {
            throw new OpenAiRequestException("max_completion_tokens", $"max_completion_tokens: {b} conflicts with max_tokens {a}; send one of them.");
        }

        if ((maxCompletionTokens ?? maxTokens) is { } limit)
        {
            var name = maxCompletionTokens is null ? "max_tokens" : "max_completion_tokens";
            if (limit < 1)
            {
                throw new OpenAiRequestException(name, $"{name}: must be at least 1, got {limit}.");
            }

            request.MaxTokens = limit;
        }

        return new ChatCompletionsRequest(request, stream, includeUsage);
    }

    private static void ReadMessages(JsonElement value, CompletionRequest request, RequestLimitOptions limits)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw TypeError("messages", "an array of messages", value);
        }

        // Counted before a single message is built: a million empty messages cost nothing to send.
        var count = value.GetArrayLength();
        if (count > limits.MaxMessages)
        {
            throw new OpenAiRequestException("messages", $"messages: {count} messages; at most {limits.MaxMessages} are accepted per request (requestLimits:maxMessages).");
        }

        var i = 0;
        foreach (var item in value.EnumerateArray())
        {
            request.Messages.Add(ReadMessage(item, $"messages[{i}]"));
            i++;
        }
    }

    private static Message ReadMessage(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw TypeError(path, "a message object", value);
        }

        NoDuplicateKeys(value, path);
        var message = new Message();
        if (!value.TryGetProperty("role", out var roleValue))
        {
            throw new OpenAiRequestException(path + ".role", $"{path}.role: is required (system, developer, user, assistant or tool).");
        }

        var role = String(roleValue, path + ".role");
        message.Role = role switch
        {
            "system" or "developer" => Role.System,
            "user" => Role.User,
            "assistant" => Role.Assistant,
            "tool" => Role.Tool,
            "function" => throw new OpenAiRequestException(path + ".role", $"{path}.role: 'function' messages are deprecated and not supported; use tool messages with tool_call_id."),
            _ => throw new OpenAiRequestException(path + ".role", $"{path}.role: '{role}' is not a role; use system, developer, user, assistant or tool."),
        };

        foreach (var property in value.EnumerateObject())
        {
            var field = path + "." + property.Name;
            switch (property.Name)
            {
                case "content":
                    ReadContent(property.Value, field, message);
                    break;
                case "name":
                    if (property.Value.ValueKind != JsonValueKind.Null)
                    {
                        message.Name = String(property.Value, field);
                    }

                    break;
                case "tool_call_id":
                    if (property.Value.ValueKind != JsonValueKind.Null)
                    {
                        message.ToolCallId = String(property.Value, field);
                    }

                    break;
                case "tool_calls":
                    ReadToolCalls(property.Value, field, message);
                    break;
            }
        }

        if (message.Role == Role.Tool && message.ToolCallId.Length == 0)
        {
            throw new OpenAiRequestException(path + ".tool_call_id", $"{path}.tool_call_id: is required for tool messages.");
        }

        return message;
    }

    private static void ReadContent(JsonElement value, string path, Message message)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return;
            case JsonValueKind.String:
                message.Content = String(value, path);
                return;
            case JsonValueKind.Array:
                break;
            default:
                throw TypeError(path, "a string or an array of content parts", value);
        }

        var i = 0;
        foreach (var part in value.EnumerateArray())
        {
            var partPath = $"{path}[{i}]";
            i++;
            if (part.ValueKind != JsonValueKind.Object)
            {
                throw TypeError(partPath, "a content part object", part);
            }

            NoDuplicateKeys(part, partPath);

            var type = part.TryGetProperty("type", out var typeValue) ? String(typeValue, partPath + ".type") : "";
            switch (type)
            {
                case "text":
                case "refusal":
                    var textKey = type == "text" ? "text" : "refusal";
                    message.Parts.Add(new ContentPart { Text = String(Required(part, textKey, partPath), partPath + "." + textKey) });
                    break;
                case "image_url":
                    var image = Required(part, "image_url", partPath);
                    var imagePath = partPath + ".image_url";
                    if (image.ValueKind != JsonValueKind.Object)
                    {
                        throw TypeError(imagePath, "an object with url", image);
                    }

                    NoDuplicateKeys(image, imagePath);

                    var imagePart = new ImagePart { Url = String(Required(image, "url", imagePath), imagePath + ".url") };
                    if (Services.RequestValidator.CheckImageUrl(imagePart.Url) is { } problem)
                    {
                        throw new OpenAiRequestException(imagePath + ".url", $"{imagePath}.url: {problem}");
                    }

                    if (image.TryGetProperty("detail", out var detail) && detail.ValueKind != JsonValueKind.Null)
                    {
                        imagePart.Detail = String(detail, imagePath + ".detail");
                    }

                    message.Parts.Add(new ContentPart { Image = imagePart });
                    break;
                case "input_audio":
                    var audio = Required(part, "input_audio", partPath);
                    var audioPath = partPath + ".input_audio";
                    if (audio.ValueKind != JsonValueKind.Object)
                    {
                        throw TypeError(audioPath, "an object with data and format", audio);
                    }

                    NoDuplicateKeys(audio, audioPath);

                    var data = String(Required(audio, "data", audioPath), audioPath + ".data");
                    byte[] bytes;
                    try
                    {
                        bytes = Convert.FromBase64String(data);
                    }
                    catch (FormatException)
                    {
                        throw new OpenAiRequestException(audioPath + ".data", $"{audioPath}.data: is not valid base64.");
                    }

                    message.Parts.Add(new ContentPart
                    {
                        Audio = new AudioPart { Data = ByteString.CopyFrom(bytes), Format = String(Required(audio, "format", audioPath), audioPath + ".format") },
                    });
                    break;
                case "":
                    throw new OpenAiRequestException(partPath + ".type", $"{partPath}.type: is required (text, image_url or input_audio).");
                default:
                    throw new OpenAiRequestException(partPath + ".type", $"{partPath}.type: '{type}' content parts are not supported; use text, image_url or input_audio.");
            }
        }
    }

    private static void ReadToolCalls(JsonElement value, string path, Message message)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw TypeError(path, "an array of tool calls", value);
        }

        var i = 0;
        foreach (var call in value.EnumerateArray())
        {
            var callPath = $"{path}[{i}]";
            i++;
            if (call.ValueKind != JsonValueKind.Object)
            {
                throw TypeError(callPath, "a tool call object", call);
            }

            NoDuplicateKeys(call, callPath);

            CheckFunctionType(call, callPath);
            var function = Required(call, "function", callPath);
            var functionPath = callPath + ".function";
            if (function.ValueKind != JsonValueKind.Object)
            {
                throw TypeError(functionPath, "an object with name and arguments", function);
            }

            NoDuplicateKeys(function, functionPath);

            message.ToolCalls.Add(new ToolCall
            {
                Id = call.TryGetProperty("id", out var id) ? String(id, callPath + ".id") : "",
                Name = String(Required(function, "name", functionPath), functionPath + ".name"),
                ArgumentsJson = function.TryGetProperty("arguments", out var arguments) && arguments.ValueKind != JsonValueKind.Null
                    ? String(arguments, functionPath + ".arguments")
                    : "",
            });
        }
    }

    private static void ReadTools(JsonElement value, CompletionRequest request, RequestLimitOptions limits)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw TypeError("tools", "an array of tools", value);
        }

        var count = value.GetArrayLength();
        if (count > limits.MaxTools)
        {
            throw new OpenAiRequestException("tools", $"tools: {count} tools; at most {limits.MaxTools} are accepted per request (requestLimits:maxTools).");
        }

        var i = 0;
        foreach (var item in value.EnumerateArray())
        {
            var path = $"tools[{i}]";
            i++;
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw TypeError(path, "a tool object", item);
            }

            NoDuplicateKeys(item, path);

            CheckFunctionType(item, path);
            var function = Required(item, "function", path);
            var functionPath = path + ".function";
            if (function.ValueKind != JsonValueKind.Object)
            {
                throw TypeError(functionPath, "an object with name, description and parameters", function);
            }

            NoDuplicateKeys(function, functionPath);

            var tool = new Tool { Name = String(Required(function, "name", functionPath), functionPath + ".name") };
            if (function.TryGetProperty("description", out var description) && description.ValueKind != JsonValueKind.Null)
            {
                tool.Description = String(description, functionPath + ".description");
            }

            if (function.TryGetProperty("parameters", out var parameters) && parameters.ValueKind != JsonValueKind.Null)
            {
                tool.Parameters = ToStruct(parameters, functionPath + ".parameters");
            }

            if (function.TryGetProperty("strict", out var strict))
            {
                tool.Strict = NullableBool(strict, functionPath + ".strict") ?? false;
            }

            request.Tools.Add(tool);
        }
    }

    private static void CheckFunctionType(JsonElement item, string path)
    {
        if (item.TryGetProperty("type", out var type) && type.ValueKind != JsonValueKind.Null)
        {
            var name = String(type, path + ".type");
            if (name != "function")
            {
                throw new OpenAiRequestException(path + ".type", $"{path}.type: '{name}' is not supported; only 'function' tools are.");
            }
        }
    }

    private static ToolChoice? ReadToolChoice(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.String:
                var mode = String(value, "tool_choice");
                return mode switch
                {
                    "auto" => new ToolChoice { Mode = ToolChoiceMode.Auto },
                    "none" => new ToolChoice { Mode = ToolChoiceMode.None },
                    "required" => new ToolChoice { Mode = ToolChoiceMode.Required },
                    _ => throw new OpenAiRequestException("tool_choice", $"tool_choice: '{mode}' is not a mode; use auto, none, required or {{\"type\":\"function\",\"function\":{{\"name\":...}}}}."),
                };
            case JsonValueKind.Object:
                NoDuplicateKeys(value, "tool_choice");
                CheckFunctionType(value, "tool_choice");
                var function = Required(value, "function", "tool_choice");
                if (function.ValueKind != JsonValueKind.Object)
                {
                    throw TypeError("tool_choice.function", "an object with name", function);
                }

                // "name" twice would force one tool here and maybe the other at the provider.
                NoDuplicateKeys(function, "tool_choice.function");
                return new ToolChoice { FunctionName = String(Required(function, "name", "tool_choice.function"), "tool_choice.function.name") };
            default:
                throw TypeError("tool_choice", "a string or an object", value);
        }
    }

    private static ResponseFormat? ReadResponseFormat(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw TypeError("response_format", "an object with type", value);
        }

        NoDuplicateKeys(value, "response_format");

        var type = String(Required(value, "type", "response_format"), "response_format.type");
        switch (type)
        {
            case "text":
                return new ResponseFormat { Type = ResponseFormatType.Text };
            case "json_object":
                return new ResponseFormat { Type = ResponseFormatType.JsonObject };
            case "json_schema":
                var schema = Required(value, "json_schema", "response_format");
                if (schema.ValueKind != JsonValueKind.Object)
                {
                    throw TypeError("response_format.json_schema", "an object with name and schema", schema);
                }

                NoDuplicateKeys(schema, "response_format.json_schema");

                var jsonSchema = new JsonSchema
                {
                    Name = schema.TryGetProperty("name", out var name) ? String(name, "response_format.json_schema.name") : "",
                    Schema = ToStruct(Required(schema, "schema", "response_format.json_schema"), "response_format.json_schema.schema"),
                };
                if (schema.TryGetProperty("description", out var description) && description.ValueKind != JsonValueKind.Null)
                {
                    jsonSchema.Description = String(description, "response_format.json_schema.description");
                }

                if (schema.TryGetProperty("strict", out var strict))
                {
                    jsonSchema.Strict = NullableBool(strict, "response_format.json_schema.strict") ?? false;
                }

                return new ResponseFormat { Type = ResponseFormatType.JsonSchema, JsonSchema = jsonSchema };
            default:
                throw new OpenAiRequestException("response_format.type", $"response_format.type: '{type}' is not supported; use text, json_object or json_schema.");
        }
    }

    private static void ReadStop(JsonElement value, CompletionRequest request)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return;
            case JsonValueKind.String:
                request.Stop.Add(String(value, "stop"));
                return;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    request.Stop.Add(String(item, $"stop[{i}]"));
                    i++;
                }

                return;
            default:
                throw TypeError("stop", "a string or an array of strings", value);
        }
    }

    private static bool ReadStreamOptions(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return false;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw TypeError("stream_options", "an object", value);
        }

        NoDuplicateKeys(value, "stream_options");

        return value.TryGetProperty("include_usage", out var include) && (NullableBool(include, "stream_options.include_usage") ?? false);
    }

    private static void ReadMetadata(JsonElement value, CompletionRequest request, RequestLimitOptions limits)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw TypeError("metadata", "an object of string values", value);
        }

        var count = 0;
        foreach (var property in value.EnumerateObject())
        {
            if (++count > limits.MaxMetadataEntries)
            {
                throw new OpenAiRequestException("metadata", $"metadata: more than {limits.MaxMetadataEntries} entries; at most {limits.MaxMetadataEntries} are accepted (requestLimits:maxMetadataEntries).");
            }

            if (request.Metadata.ContainsKey(property.Name))
            {
                throw new OpenAiRequestException("metadata." + property.Name, $"metadata.{property.Name}: the key appears twice; send each key once.");
            }

            request.Metadata[property.Name] = String(property.Value, "metadata." + property.Name);
        }
    }

    /// <summary>
    /// Refuses an object that names a key twice. JSON parsers disagree on which copy wins (first,
    /// last, error), so "role" twice could read as one role here and another at the provider.
    /// </summary>
    private static void NoDuplicateKeys(JsonElement value, string path)
    {
        HashSet<string>? seen = null;
        foreach (var property in value.EnumerateObject())
        {
            seen ??= new HashSet<string>(StringComparer.Ordinal);
            if (!seen.Add(property.Name))
            {
                var field = path.Length == 0 ? property.Name : path + "." + property.Name;
                throw new OpenAiRequestException(field, $"{field}: the key appears twice in the same object; send it once.");
            }
        }
    }

    private static JsonElement Required(JsonElement parent, string name, string path)
        => parent.TryGetProperty(name, out var value)
            ? value
            : throw new OpenAiRequestException(path + "." + name, $"{path}.{name}: is required.");

    private static string String(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            throw TypeError(path, "a string", value);
        }

        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // An escaped unpaired surrogate ("\ud800") is valid JSON but not text.
            throw new OpenAiRequestException(path, $"{path}: is not valid Unicode (an unpaired surrogate escape such as \\ud800); send valid UTF-8 text.");
        }
    }

    private static double Number(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Number)
        {
            throw TypeError(path, "a number", value);
        }

        return value.TryGetDouble(out var d) && double.IsFinite(d)
            ? d
            : throw new OpenAiRequestException(path, $"{path}: the number {Clip(value.GetRawText())} is out of range.");
    }

    private static int? NullableInt32(JsonElement value, string path)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i))
        {
            return i;
        }

        throw IntegerError(path, value, "2147483647");
    }

    private static long Int64(JsonElement value, string path)
        => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var l) ? l : throw IntegerError(path, value, "9223372036854775807");

    /// <summary>A number that is whole but too large says so; anything else is a type error.</summary>
    private static OpenAiRequestException IntegerError(string path, JsonElement value, string max)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var d) && (!double.IsFinite(d) || (Math.Floor(d) == d && Math.Abs(d) > 1e9)))
        {
            return new OpenAiRequestException(path, $"{path}: the number {Clip(value.GetRawText())} is out of range (at most {max}).");
        }

        if (value.ValueKind == JsonValueKind.Number && !value.TryGetDouble(out _))
        {
            return new OpenAiRequestException(path, $"{path}: the number {Clip(value.GetRawText())} is out of range (at most {max}).");
        }

        return TypeError(path, "an integer", value);
    }

    private static string Clip(string text) => text.Length <= 40 ? text : text[..40] + "...";

    private static bool? NullableBool(JsonElement value, string path) => value.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => null,
        _ => throw TypeError(path, "a boolean", value),
    };

    private static Struct ToStruct(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw TypeError(path, "a JSON object", value);
        }

        return ToValue(value, path).StructValue;
    }

    private static Value ToValue(JsonElement value, string path)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                var s = new Struct();
                foreach (var property in value.EnumerateObject())
                {
                    var field = path + "." + property.Name;
                    if (s.Fields.ContainsKey(property.Name))
                    {
                        throw new OpenAiRequestException(field, $"{field}: the key appears twice in the same object; send it once.");
                    }

                    s.Fields[property.Name] = ToValue(property.Value, field);
                }

                return Value.ForStruct(s);
            case JsonValueKind.Array:
                var list = new ListValue();
                var i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    list.Values.Add(ToValue(item, $"{path}[{i++}]"));
                }

                return new Value { ListValue = list };
            case JsonValueKind.String:
                return Value.ForString(String(value, path));
            case JsonValueKind.Number:
                return Value.ForNumber(Number(value, path));
            case JsonValueKind.True:
                return Value.ForBool(true);
            case JsonValueKind.False:
                return Value.ForBool(false);
            default:
                return Value.ForNull();
        }
    }

    private static OpenAiRequestException TypeError(string path, string expected, JsonElement actual)
        => new(path, $"{path}: expected {expected}, got {Describe(actual)}.");

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "the number " + value.GetRawText(),
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => value.ValueKind.ToString().ToLower(CultureInfo.InvariantCulture),
    };
}
