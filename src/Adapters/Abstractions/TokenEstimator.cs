using Gateway.Grpc.Tokenizer.Chat;
using Gateway.V1;

namespace Gateway.Grpc.Adapters;

/// <summary>
/// Token counts for limits, costs and usage a provider did not report. Prompts are counted
/// with the tiktoken-compatible tokenizer and the providers' chat overhead rules
/// (<see cref="ChatTokenCounter"/>); <see cref="CountText"/> stays a cheap per-word estimate
/// (about 4 characters a token) for streamed output counted piece by piece.
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

    /// <summary>Prompt tokens of a request, with the chat overhead of the request's model (o200k_base for unknown models).</summary>
    public static int CountPrompt(CompletionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return ChatTokenCounter.ForModel(request.Model).CountPrompt(request);
    }

    private static int WordTokens(int length) => length == 0 ? 0 : (length + 3) / 4;
}
