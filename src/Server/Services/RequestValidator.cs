using System.Buffers.Text;
using Gateway.Grpc.Server.Configuration;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Gateway.Grpc.Server.Services;

/// <summary>
/// Checks a CompletionRequest before any provider sees it, whichever door it came through;
/// messages name the field (proto field names) and the fix, and size limits name their
/// <c>requestLimits:</c> key. Everything here is linear in the request and allocation-free on
/// the success path: it runs before authentication, so it must be cheap for anyone to trigger.
/// </summary>
internal static class RequestValidator
{
    /// <summary>OpenAI's rule for function names; Anthropic's and Gemini's accept the same set.</summary>
    public const int MaxToolNameLength = 64;

    public const int MaxMetadataKeyLength = 64;

    public const int MaxMetadataValueLength = 512;

    public static void Validate(CompletionRequest request, RequestLimitOptions limits)
    {
        if (string.IsNullOrWhiteSpace(request.Model))
        {
            throw Invalid("model: is required; call gateway.v1.Models/ListModels for the names you can use.");
        }

        if (request.Messages.Count == 0)
        {
            throw Invalid("messages: must contain at least one message.");
        }

        if (request.Messages.Count > limits.MaxMessages)
        {
            throw Invalid($"messages: {request.Messages.Count} messages; at most {limits.MaxMessages} are accepted per request (requestLimits:maxMessages).");
        }

        if (request.Tools.Count > limits.MaxTools)
        {
            throw Invalid($"tools: {request.Tools.Count} tools; at most {limits.MaxTools} are accepted per request (requestLimits:maxTools).");
        }

        if (request.Metadata.Count > limits.MaxMetadataEntries)
        {
            throw Invalid($"metadata: {request.Metadata.Count} entries; at most {limits.MaxMetadataEntries} are accepted (requestLimits:maxMetadataEntries).");
        }

        // Before anything walks the text: a prompt over the character limit is refused unread.
        var chars = PromptChars(request, limits.MaxPromptChars);
        if (chars > limits.MaxPromptChars)
        {
            throw Invalid($"messages: the prompt holds more than {limits.MaxPromptChars} characters (messages, tool calls and tool definitions together); the limit is requestLimits:maxPromptChars. Shorten the prompt.");
        }

        for (var i = 0; i < request.Messages.Count; i++)
        {
            ValidateMessage(request.Messages[i], i);
        }

        if (request.HasMaxTokens && request.MaxTokens < 1)
        {
            throw Invalid($"max_tokens: must be at least 1, got {request.MaxTokens}.");
        }

        if (request.HasTemperature && !(request.Temperature >= 0 && request.Temperature <= 2))
        {
            throw Invalid($"temperature: must be between 0 and 2, got {request.Temperature}.");
        }

        if (request.HasTopP && !(request.TopP >= 0 && request.TopP <= 1))
        {
            throw Invalid($"top_p: must be between 0 and 1, got {request.TopP}.");
        }

        if (request.Stop.Count > 4)
        {
            throw Invalid($"stop: at most 4 sequences, got {request.Stop.Count}.");
        }

        for (var i = 0; i < request.Tools.Count; i++)
        {
            ValidateTool(request, i);
        }

        if (request.ToolChoice is { ChoiceCase: ToolChoice.ChoiceOneofCase.FunctionName } choice
            && !HasTool(request, choice.FunctionName))
        {
            throw Invalid($"tool_choice.function_name: '{choice.FunctionName}' is not one of the request's tools.");
        }

        if (request.ResponseFormat is { Type: ResponseFormatType.JsonSchema } format && format.JsonSchema?.Schema is null)
        {
            throw Invalid("response_format.json_schema.schema: is required when type is RESPONSE_FORMAT_TYPE_JSON_SCHEMA.");
        }

        foreach (var (key, value) in request.Metadata)
        {
            if (key.Length is 0 or > MaxMetadataKeyLength)
            {
                throw Invalid($"metadata: key '{Clip(key)}' must be 1 to {MaxMetadataKeyLength} characters.");
            }

            if (value.Length > MaxMetadataValueLength)
            {
                throw Invalid($"metadata.{key}: the value is {value.Length} characters; at most {MaxMetadataValueLength}.");
            }
        }
    }

    // A loop, not Tools.Any(lambda): the lambda's closure over the tool_choice pattern variable
    // would be allocated on every call (its scope is the whole method), tool_choice or not.
    private static bool HasTool(CompletionRequest request, string name)
    {
        for (var i = 0; i < request.Tools.Count; i++)
        {
            if (request.Tools[i].Name == name)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Characters of prompt text, stopping once past <paramref name="stopAbove"/>: message text and
    /// names, tool calls, tool definitions (their JSON schemas by encoded size). Images and audio
    /// are bytes, bounded by the message size limits instead.
    /// </summary>
    public static long PromptChars(CompletionRequest request, long stopAbove)
    {
        long total = 0;
        for (var messageIndex = 0; messageIndex < request.Messages.Count; messageIndex++)
        {
            var message = request.Messages[messageIndex];
            total += message.Content.Length + message.Name.Length + message.ToolCallId.Length;
            for (var partIndex = 0; partIndex < message.Parts.Count; partIndex++)
            {
                var part = message.Parts[partIndex];
                if (part.PartCase == ContentPart.PartOneofCase.Text)
                {
                    total += part.Text.Length;
                }
            }

            for (var callIndex = 0; callIndex < message.ToolCalls.Count; callIndex++)
            {
                var call = message.ToolCalls[callIndex];
                total += call.Name.Length + call.ArgumentsJson.Length;
            }

            if (total > stopAbove)
            {
                return total;
            }
        }

        for (var toolIndex = 0; toolIndex < request.Tools.Count; toolIndex++)
        {
            var tool = request.Tools[toolIndex];
            total += tool.Name.Length + tool.Description.Length + (tool.Parameters?.CalculateSize() ?? 0);
        }

        return total;
    }

    private static void ValidateMessage(Message message, int i)
    {
        if (message.Role == Role.Unspecified)
        {
            throw Invalid($"messages[{i}].role: must be set (ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL).");
        }

        if (!System.Enum.IsDefined(message.Role))
        {
            throw Invalid($"messages[{i}].role: {(int)message.Role} is not a role; use ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL.");
        }

        if (message.Role == Role.Tool && string.IsNullOrEmpty(message.ToolCallId))
        {
            throw Invalid($"messages[{i}].tool_call_id: is required for ROLE_TOOL messages.");
        }

        for (var j = 0; j < message.Parts.Count; j++)
        {
            var part = message.Parts[j];
            var path = $"messages[{i}].parts[{j}]";
            switch (part.PartCase)
            {
                case ContentPart.PartOneofCase.None:
                    throw Invalid($"{path}: is empty; set text, image or audio.");
                case ContentPart.PartOneofCase.Image:
                    ValidateImage(part.Image, path + ".image");
                    break;
                case ContentPart.PartOneofCase.Audio:
                    if (part.Audio.Data.IsEmpty)
                    {
                        throw Invalid($"{path}.audio.data: is required (the audio bytes).");
                    }

                    if (string.IsNullOrWhiteSpace(part.Audio.Format))
                    {
                        throw Invalid($"{path}.audio.format: is required (for example wav or mp3).");
                    }

                    break;
            }
        }

        for (var j = 0; j < message.ToolCalls.Count; j++)
        {
            if (string.IsNullOrWhiteSpace(message.ToolCalls[j].Name))
            {
                throw Invalid($"messages[{i}].tool_calls[{j}].name: is required.");
            }
        }
    }

    private static void ValidateImage(ImagePart image, string path)
    {
        switch (image.SourceCase)
        {
            case ImagePart.SourceOneofCase.None:
                throw Invalid($"{path}: set url (http, https or a data: URL) or data.");
            case ImagePart.SourceOneofCase.Data:
                if (image.Data.IsEmpty)
                {
                    throw Invalid($"{path}.data: is empty.");
                }

                return;
        }

        if (CheckImageUrl(image.Url) is { } problem)
        {
            throw Invalid($"{path}.url: {problem}");
        }
    }

    /// <summary>Null when <paramref name="url"/> is an http(s) URL or a data: URL whose base64 decodes; else what is wrong.</summary>
    public static string? CheckImageUrl(string url)
    {
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            var comma = url.IndexOf(',', StringComparison.Ordinal);
            if (comma < 0)
            {
                return "a data: URL needs a comma before its data (data:image/png;base64,...).";
            }

            var header = url.AsSpan(5, comma - 5);
            if (!header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            {
                return "only base64 data: URLs are supported (data:image/png;base64,...).";
            }

            var data = url.AsSpan(comma + 1);
            return data.IsEmpty || !Base64.IsValid(data) ? "the base64 data after the comma does not decode." : null;
        }

        return Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? null
            : $"'{Clip(url)}' is not an http(s) or data: URL.";
    }

    private static void ValidateTool(CompletionRequest request, int i)
    {
        var tool = request.Tools[i];
        if (string.IsNullOrWhiteSpace(tool.Name))
        {
            throw Invalid($"tools[{i}].name: is required.");
        }

        if (!IsToolName(tool.Name))
        {
            throw Invalid($"tools[{i}].name: '{Clip(tool.Name)}' must be 1 to {MaxToolNameLength} letters, digits, '_' or '-'.");
        }

        for (var k = 0; k < i; k++)
        {
            if (request.Tools[k].Name == tool.Name)
            {
                throw Invalid($"tools[{i}].name: '{tool.Name}' is already the name of tools[{k}]; tool names must be unique.");
            }
        }

        if (tool.Parameters is not { } schema)
        {
            return;
        }

        var fields = schema.Fields;
        if (fields.TryGetValue("type", out var type) && !(type.KindCase == Value.KindOneofCase.StringValue && type.StringValue == "object"))
        {
            throw Invalid($"tools[{i}].parameters.type: must be \"object\" (a function takes an object of arguments).");
        }

        if (fields.TryGetValue("properties", out var properties) && properties.KindCase != Value.KindOneofCase.StructValue)
        {
            throw Invalid($"tools[{i}].parameters.properties: must be an object mapping argument names to schemas.");
        }

        if (fields.TryGetValue("required", out var required))
        {
            if (required.KindCase != Value.KindOneofCase.ListValue || required.ListValue.Values.Any(static v => v.KindCase != Value.KindOneofCase.StringValue))
            {
                throw Invalid($"tools[{i}].parameters.required: must be an array of argument names.");
            }
        }
    }

    private static bool IsToolName(string name)
    {
        if (name.Length > MaxToolNameLength)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    private static string Clip(string text) => text.Length <= 64 ? text : text[..64] + "...";

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
