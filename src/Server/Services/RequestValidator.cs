using Grpc.Core;
using Gateway.V1;

namespace Gateway.Grpc.Server.Services;

/// <summary>Checks a CompletionRequest before any provider sees it; messages name the field and the fix.</summary>
internal static class RequestValidator
{
    public static void Validate(CompletionRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Model))
        {
            throw Invalid("model: is required; call gateway.v1.Models/ListModels for the names you can use.");
        }

        if (request.Messages.Count == 0)
        {
            throw Invalid("messages: must contain at least one message.");
        }

        for (var i = 0; i < request.Messages.Count; i++)
        {
            var message = request.Messages[i];
            if (message.Role == Role.Unspecified)
            {
                throw Invalid($"messages[{i}].role: must be set (ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL).");
            }

            if (message.Role == Role.Tool && string.IsNullOrEmpty(message.ToolCallId))
            {
                throw Invalid($"messages[{i}].tool_call_id: is required for ROLE_TOOL messages.");
            }
        }

        if (request.HasMaxTokens && request.MaxTokens < 1)
        {
            throw Invalid($"max_tokens: must be at least 1, got {request.MaxTokens}.");
        }

        if (request.HasTemperature && (request.Temperature < 0 || request.Temperature > 2 || double.IsNaN(request.Temperature)))
        {
            throw Invalid($"temperature: must be between 0 and 2, got {request.Temperature}.");
        }

        if (request.HasTopP && (request.TopP < 0 || request.TopP > 1 || double.IsNaN(request.TopP)))
        {
            throw Invalid($"top_p: must be between 0 and 1, got {request.TopP}.");
        }

        if (request.Stop.Count > 4)
        {
            throw Invalid($"stop: at most 4 sequences, got {request.Stop.Count}.");
        }

        for (var i = 0; i < request.Tools.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(request.Tools[i].Name))
            {
                throw Invalid($"tools[{i}].name: is required.");
            }
        }

        if (request.ToolChoice is { ChoiceCase: ToolChoice.ChoiceOneofCase.FunctionName } choice
            && !request.Tools.Any(t => t.Name == choice.FunctionName))
        {
            throw Invalid($"tool_choice.function_name: '{choice.FunctionName}' is not one of the request's tools.");
        }

        if (request.ResponseFormat is { Type: ResponseFormatType.JsonSchema } format && format.JsonSchema?.Schema is null)
        {
            throw Invalid("response_format.json_schema.schema: is required when type is RESPONSE_FORMAT_TYPE_JSON_SCHEMA.");
        }
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
