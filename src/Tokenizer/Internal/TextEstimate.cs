namespace Gateway.Grpc.Tokenizer.Internal;

/// <summary>
/// The fallback when no vocabulary is available: about four characters a token, at least one
/// token per whitespace-separated word. Deterministic and allocation-free; typically within
/// 10-30% of o200k_base for English, worse for CJK and code.
/// </summary>
internal static class TextEstimate
{
    public static int Count(ReadOnlySpan<char> text)
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

    private static int WordTokens(int length) => length == 0 ? 0 : (length + 3) / 4;
}
