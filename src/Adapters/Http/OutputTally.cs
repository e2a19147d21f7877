using Gateway.V1;

namespace Gateway.Grpc.Adapters.Http;

/// <summary>
/// Counts a stream's output the way <see cref="TokenEstimator.CountText"/> would count the whole
/// text, incrementally and without keeping the text, so usage can be estimated when the
/// upstream reported none (OpenAI-compatible servers that ignore <c>stream_options</c>).
/// </summary>
internal sealed class OutputTally
{
    private int _tokens;
    private int _wordLength;

    public void Add(string text)
    {
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                _tokens += WordTokens(_wordLength);
                _wordLength = 0;
            }
            else
            {
                _wordLength++;
            }
        }
    }

    /// <summary>Separates two pieces that are not one text (tool name and arguments).</summary>
    public void Break() => Add(" ");

    public int OutputTokens => _tokens + WordTokens(_wordLength);

    public Usage Estimate(CompletionRequest request) => new()
    {
        InputTokens = TokenEstimator.CountPrompt(request),
        OutputTokens = OutputTokens,
        Estimated = true,
    };

    private static int WordTokens(int length) => length == 0 ? 0 : (length + 3) / 4;
}
