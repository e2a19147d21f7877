namespace Gateway.Grpc.Simulator.Generation;

/// <summary>
/// A small, deterministic token count (about 4 characters a token, at least one per word, plus
/// OpenAI's chat overhead of 3 tokens a message and 3 for the reply primer). Not a real
/// tokenizer: it makes usage plausible and consistent, and output counts exact (one generated
/// piece is one token).
/// </summary>
internal static class TokenCounter
{
    public static int Count(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 0;
        }

        var tokens = 0;
        var word = 0;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                tokens += WordTokens(word);
                word = 0;
            }
            else
            {
                word++;
            }
        }

        return tokens + WordTokens(word);
    }

    public static int CountPrompt(SimRequest request)
    {
        var total = 3;
        foreach (var message in request.Messages)
        {
            total += 3 + Count(message.Text) + message.ExtraTokens;
        }

        foreach (var tool in request.Tools)
        {
            total += Count(tool.Name) + Count(tool.Description) + (tool.Schema is { } schema ? Count(schema.GetRawText()) : 0);
        }

        if (request.FormatSchema is { } format)
        {
            total += Count(format.GetRawText());
        }

        return total;
    }

    private static int WordTokens(int length) => length == 0 ? 0 : (length + 3) / 4;
}
