using Gateway.V1;

namespace Gateway.Grpc.Adapters;

/// <summary>
/// A cheap, deterministic token estimate (about 4 characters a token, at least one per word,
/// plus the chat overhead of 3 tokens a message and 3 for the reply primer, as OpenAI counts).
/// Stands in until the tiktoken-compatible tokenizer lands.
/// </summary>
public static class TokenEstimator
{
    public static int CountText(string text)
    {
        var tokens = 0;
        var wordLength = 0;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                tokens += WordTokens(wordLength);
                wordLength = 0;
            }
            else
            {
                wordLength++;
            }
        }

        return tokens + WordTokens(wordLength);
    }

    public static int CountPrompt(CompletionRequest request)
    {
        var total = 3;
        foreach (var message in request.Messages)
        {
            total += 3 + CountText(message.Content) + CountText(message.Name);
            foreach (var part in message.Parts)
            {
                total += part.PartCase == ContentPart.PartOneofCase.Text ? CountText(part.Text) : 85;
            }

            foreach (var call in message.ToolCalls)
            {
                total += CountText(call.Name) + CountText(call.ArgumentsJson);
            }
        }

        foreach (var tool in request.Tools)
        {
            total += CountText(tool.Name) + CountText(tool.Description) + (tool.Parameters is null ? 0 : CountText(tool.Parameters.ToString()));
        }

        return total;
    }

    private static int WordTokens(int length) => length == 0 ? 0 : (length + 3) / 4;
}
