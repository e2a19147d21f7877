using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.Grpc.Guardrails.Format;
using Gateway.Grpc.Server.Configuration;
using Gateway.V1;
using Google.Protobuf;

namespace Gateway.Grpc.Server.Routing;

/// <summary>
/// The cheap checks of a cascade's quality gate, in order: minimum length, refusal, JSON (against
/// the request's schema when it has one, with the guardrails' validator). The judge, which needs
/// a model call, is run by the pipeline after these pass.
/// </summary>
internal static partial class CascadeGate
{
    public const string Json = "json_schema";
    public const string Refusal = "refusal";
    public const string MinLength = "min_length";
    public const string Judge = "judge";

    /// <summary>Null when the answer passes; else the failed check and why (never answer text).</summary>
    public static (string Gate, string Reason)? Check(CompletionResponse answer, CompletionRequest request, CascadeGateOptions gate)
    {
        var text = answer.Message?.Content ?? "";
        if (answer.FinishReason == FinishReason.ToolCalls)
        {
            // Tool calls are not judged as text; the caller's tools decide what they were worth.
            return null;
        }

        if (gate.MinLength > 0 && text.Trim().Length < gate.MinLength)
        {
            return (MinLength, $"{text.Trim().Length} characters, fewer than {gate.MinLength}");
        }

        if (gate.Refusal && IsRefusal(text))
        {
            return (Refusal, "the answer declines the request");
        }

        if (gate.Json)
        {
            if (request.ResponseFormat is { Type: ResponseFormatType.JsonSchema, JsonSchema.Schema: not null } format)
            {
                using var schema = JsonDocument.Parse(JsonFormatter.Default.Format(format.JsonSchema.Schema));
                if (JsonSchemaValidator.Validate(text, schema.RootElement) is { } problem)
                {
                    return (Json, problem);
                }
            }
            else
            {
                try
                {
                    using var _ = JsonDocument.Parse(text);
                }
                catch (JsonException ex)
                {
                    return (Json, "not JSON: " + ex.Message);
                }
            }
        }

        return null;
    }

    /// <summary>An answer that declines instead of answering (the usual openings of model refusals).</summary>
    public static bool IsRefusal(string text)
    {
        var head = text.Length > 300 ? text[..300] : text;
        return RefusalPattern().IsMatch(head);
    }

    /// <summary>The judge's prompt: the question and the answer, asking for one number.</summary>
    public static CompletionRequest JudgeRequest(CompletionRequest original, string question, string answer, CascadeJudgeOptions judge)
    {
        var request = new CompletionRequest
        {
            Model = judge.Model,
            MaxTokens = judge.MaxTokens,
            Temperature = 0,
        };
        request.Messages.Add(new Message
        {
            Role = Role.System,
            Content = "You grade answers. Reply with only a number from 0 (useless or wrong) to 10 (complete and correct).",
        });
        request.Messages.Add(new Message { Role = Role.User, Content = "Question:\n" + question + "\n\nAnswer:\n" + answer + "\n\nScore (0-10):" });
        foreach (var (key, value) in original.Metadata)
        {
            request.Metadata[key] = value;
        }

        return request;
    }

    /// <summary>The first number in the judge's reply, clamped to 0-10; null when there is none.</summary>
    public static double? ParseScore(string reply)
    {
        var match = NumberPattern().Match(reply);
        return match.Success && double.TryParse(match.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var score)
            ? Math.Clamp(score, 0, 10)
            : null;
    }

    [GeneratedRegex(@"^\W*(I'?m sorry|I am sorry|sorry, (but )?I|I (can(no|')t|cannot|won'?t|am (not able|unable)|'m (not able|unable)) (help|assist|do|provide|comply|answer|fulfil)|As an AI\b|I must (decline|refuse))", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex RefusalPattern();

    [GeneratedRegex(@"\d+(\.\d+)?", RegexOptions.CultureInvariant)]
    private static partial Regex NumberPattern();
}
