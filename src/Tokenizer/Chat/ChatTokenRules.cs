using Gateway.Grpc.Tokenizer.Internal;

namespace Gateway.Grpc.Tokenizer.Chat;

/// <summary>
/// The fixed token costs a chat model adds around the text it is given.
/// <para>
/// Source: the OpenAI Cookbook, "How to count tokens with tiktoken"
/// (openai/openai-cookbook, examples/How_to_count_tokens_with_tiktoken.ipynb), sections 6 and 7,
/// whose formulas the cookbook checks against the API's <c>usage.prompt_tokens</c>:
/// </para>
/// <list type="bullet">
/// <item>Messages (gpt-3.5-turbo-0613 and later, gpt-4, gpt-4o, gpt-4o-mini): every message costs
/// 3 tokens plus the tokens of each of its string fields (role, content, name); a <c>name</c>
/// costs 1 more; every reply is primed with <c>&lt;|start|&gt;assistant&lt;|message|&gt;</c>, 3 tokens.
/// gpt-3.5-turbo-0301 used 4 per message and -1 per name.</item>
/// <item>Function (tool) definitions: per function 7 tokens for gpt-4o-family models (10 for gpt-4
/// and gpt-3.5-turbo) plus the tokens of "name:description" (one trailing '.' dropped); 3 when the
/// parameters have properties, then per property 3 plus "key:type:description", and for an enum
/// -3 plus 3 and the item's tokens per item; 12 once after all functions.</item>
/// </list>
/// What the cookbook does not cover is approximated and documented on <see cref="ChatTokenCounter"/>.
/// </summary>
public sealed record ChatTokenRules
{
    /// <summary>Overhead of every message (3; 4 for gpt-3.5-turbo-0301).</summary>
    public int TokensPerMessage { get; init; } = 3;

    /// <summary>Extra cost of a message's <c>name</c> (1; -1 for gpt-3.5-turbo-0301).</summary>
    public int TokensPerName { get; init; } = 1;

    /// <summary>The reply primer <c>&lt;|start|&gt;assistant&lt;|message|&gt;</c>, counted once per request.</summary>
    public int ReplyPrimerTokens { get; init; } = 3;

    /// <summary>Per function definition (7 for gpt-4o-family models, 10 for gpt-4 and gpt-3.5-turbo).</summary>
    public int FunctionInitTokens { get; init; } = 7;

    /// <summary>When a function's parameters have properties.</summary>
    public int PropertiesInitTokens { get; init; } = 3;

    /// <summary>Per property.</summary>
    public int PropertyKeyTokens { get; init; } = 3;

    /// <summary>When a property has an enum (negative in the cookbook's fit).</summary>
    public int EnumInitTokens { get; init; } = -3;

    /// <summary>Per enum item, besides the item's own tokens.</summary>
    public int EnumItemTokens { get; init; } = 3;

    /// <summary>Once after all function definitions.</summary>
    public int FunctionsEndTokens { get; init; } = 12;

    /// <summary>Approximation: framing of one tool call in an assistant message, besides its name and arguments.</summary>
    public int ToolCallTokens { get; init; } = 3;

    /// <summary>An image part with <c>detail: low</c> (OpenAI's vision pricing: 85 tokens).</summary>
    public int LowDetailImageTokens { get; init; } = 85;

    /// <summary>
    /// Approximation for any other image part, whose size the counter does not decode: 765 tokens,
    /// OpenAI's cost of a 1024x1024 image at high detail (85 + 4 tiles of 170).
    /// </summary>
    public int ImageTokens { get; init; } = 765;

    /// <summary>The rules for the gpt-4o family and later models (o200k_base), also used for unknown models.</summary>
    public static ChatTokenRules Default { get; } = new();

    /// <summary>The rules for gpt-4 and gpt-3.5-turbo (0613 and later).</summary>
    public static ChatTokenRules Gpt4 { get; } = new() { FunctionInitTokens = 10 };

    /// <summary>The rules for a model name: gpt-3.5-turbo-0301, other cl100k_base chat models, or the gpt-4o-family default.</summary>
    public static ChatTokenRules ForModel(string model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Contains("gpt-3.5-turbo-0301", StringComparison.OrdinalIgnoreCase) || model.Contains("gpt-35-turbo-0301", StringComparison.OrdinalIgnoreCase))
        {
            return Gpt4 with { TokensPerMessage = 4, TokensPerName = -1 };
        }

        return ModelEncodings.GetEncodingName(model) == ModelEncodings.Cl100kBase ? Gpt4 : Default;
    }
}
