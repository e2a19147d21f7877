using Gateway.Grpc.Tokenizer.Chat;
using Gateway.Grpc.Tokenizer.Internal;
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
    /// <summary>About four characters a token, at least one per word (the tokenizer's own fallback estimate).</summary>
    public static int CountText(string text) => TextEstimate.Count(text);

    /// <summary>Prompt tokens of a request, with the chat overhead of the request's model (o200k_base for unknown models).</summary>
    public static int CountPrompt(CompletionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return ChatTokenCounter.ForModel(request.Model).CountPrompt(request);
    }
}
