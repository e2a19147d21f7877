using Gateway.Grpc.Adapters;
using Gateway.V1;

namespace Gateway.Grpc.Server.Routing;

/// <summary>
/// The output a caller already has from a stream whose upstream died, and how it is handed to the
/// deployment that takes over. Anthropic continues an assistant turn given as the last message
/// (prefill: its answer is the rest of that turn); the others answer a trailing assistant turn
/// with a new one, so they get the partial answer as an assistant turn plus a user turn asking to
/// go on from it. Anthropic refuses a final assistant turn ending in whitespace, so the prefix
/// sent is trimmed and the whitespace the caller already has is dropped from the start of the
/// continuation (<see cref="TrimmedWhitespace"/>).
/// </summary>
internal sealed class ContinuationPrefix(string text, int tokens, string prompt)
{
    private CompletionRequest? _prefill;
    private CompletionRequest? _prompted;

    /// <summary>Everything the caller received so far.</summary>
    public string Text { get; } = text;

    /// <summary>Output tokens the caller received so far (counted, or the upstream's deltas).</summary>
    public int Tokens { get; } = tokens;

    /// <summary>Whitespace at the end of <see cref="Text"/> that the prefill leaves out.</summary>
    public bool TrimmedWhitespace { get; } = text.Length > 0 && char.IsWhiteSpace(text[^1]);

    /// <summary>The request as the deployment's provider continues it (built once per form).</summary>
    public CompletionRequest RequestFor(CompletionRequest original, string provider)
    {
        if (provider == ProviderNames.Anthropic)
        {
            return _prefill ??= Build(original, prefill: true);
        }

        return _prompted ??= Build(original, prefill: false);
    }

    private CompletionRequest Build(CompletionRequest original, bool prefill)
    {
        var request = original.Clone();
        request.Messages.Add(new Message { Role = Role.Assistant, Content = prefill ? Text.TrimEnd() : Text });
        if (!prefill)
        {
            request.Messages.Add(new Message { Role = Role.User, Content = prompt });
        }

        if (request.HasMaxTokens)
        {
            // The budget covers the whole answer: what was sent already counts.
            request.MaxTokens = Math.Max(1, request.MaxTokens - Tokens);
        }

        return request;
    }
}
