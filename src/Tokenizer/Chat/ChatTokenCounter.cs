using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using Gateway.Grpc.Tokenizer.Internal;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Tokenizer.Chat;

/// <summary>
/// Counts the prompt tokens of a chat request the way OpenAI bills them (see <see cref="ChatTokenRules"/>
/// for the rules and their source). Exact for plain-text messages and for function definitions
/// whose properties are flat, as the cookbook verifies against the API; approximate elsewhere:
/// <list type="bullet">
/// <item>Images: 85 tokens at <c>detail: low</c>, otherwise 765 (the image is not decoded to find its size).</item>
/// <item>Audio parts: not counted (0); providers report audio tokens themselves.</item>
/// <item>Assistant tool calls: 3 + tokens of the name + tokens of the arguments JSON each.</item>
/// <item><c>tool_call_id</c> of a tool message: its tokens, as the cookbook counts every string field of a message.</item>
/// <item>Nested parameter schemas (a property with <c>properties</c> or <c>items</c>): tokens of that sub-schema as compact JSON, on top of the cookbook's per-property cost.</item>
/// <item>A JSON-schema response format: tokens of its name and of the schema as compact JSON.</item>
/// <item>Models that are not OpenAI's (Claude, Gemini, Llama): counted with o200k_base and the
/// default rules, an estimate of the order of magnitude, not the provider's tokenizer.</item>
/// </list>
/// When the tokenizer cannot be loaded (see <see cref="ForModel"/>) every text is estimated at about
/// four characters a token, and <see cref="IsEstimate"/> is true.
/// </summary>
public sealed partial class ChatTokenCounter
{
    private static readonly ConcurrentDictionary<(string Encoding, ChatTokenRules Rules), ChatTokenCounter> Shared = new();

    // A caller's own tokenizer, held for the counter's life.
    private readonly TiktokenTokenizer? _own;

    // A shared counter's encoding: its tokenizer is looked up in the shared cache at each count
    // (a dictionary hit), not held here, so TiktokenTokenizer.ReleaseShared can free the tables.
    private readonly string? _sharedEncoding;

    /// <summary>A counter over <paramref name="tokenizer"/> with the given rules (default: <see cref="ChatTokenRules.Default"/>).</summary>
    public ChatTokenCounter(TiktokenTokenizer tokenizer, ChatTokenRules? rules = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _own = tokenizer;
        Rules = rules ?? ChatTokenRules.Default;
    }

    private ChatTokenCounter(ChatTokenRules rules, string? sharedEncoding = null)
    {
        Rules = rules;
        _sharedEncoding = sharedEncoding;
    }

    /// <summary>
    /// The tokenizer, or null when this counter estimates. A shared counter's tokenizer comes from
    /// the shared cache, loaded again if it was released (a reload that fails counts as an estimate).
    /// </summary>
    public TiktokenTokenizer? Tokenizer => _own ?? SharedTokenizer(_sharedEncoding);

    /// <summary>True when the tokenizer could not be loaded and counts are character-based estimates.</summary>
    public bool IsEstimate => _own is null && _sharedEncoding is null;

    private static TiktokenTokenizer? SharedTokenizer(string? encoding)
        => encoding is not null && TiktokenTokenizer.TryCreateForEncoding(encoding, out var tokenizer, out _) ? tokenizer : null;

    public ChatTokenRules Rules { get; }

    /// <summary>
    /// Where the one warning about an unavailable tokenizer goes when <see cref="ForModel"/> is
    /// called without a logger (the host sets it at start-up; vocabularies load on first use).
    /// </summary>
    public static ILogger? DefaultLogger { get; set; }

    /// <summary>
    /// The counter for a model: its tiktoken encoding (o200k_base for models tiktoken does not know)
    /// and its overhead rules. Never throws when the tokenizer is unavailable (say the Microsoft.ML.Tokenizers
    /// data package was not deployed): it logs one warning per encoding and returns an estimating
    /// counter, so the gateway still starts.
    /// Counters are shared; this is cheap to call per request.
    /// </summary>
    public static ChatTokenCounter ForModel(string model, ILogger? logger = null)
    {
        logger ??= DefaultLogger;
        ArgumentNullException.ThrowIfNull(model);
        var encoding = TiktokenTokenizer.GetEncodingNameForModel(model) ?? ModelEncodings.O200kBase;
        var rules = ChatTokenRules.ForModel(model);
        // One counter per (encoding, rules): a handful in all, whatever model names requests carry.
        // A fallback is cached too, so its warning is logged once, not per request.
        return Shared.TryGetValue((encoding, rules), out var counter)
            ? counter
            : Shared.GetOrAdd((encoding, rules), Resolve(model, encoding, rules, logger, TiktokenTokenizer.TryCreateForEncoding));
    }

    internal delegate bool TokenizerLoader(string encoding, [NotNullWhen(true)] out TiktokenTokenizer? tokenizer, [NotNullWhen(false)] out string? error);

    internal static ChatTokenCounter Resolve(string model, string encoding, ChatTokenRules rules, ILogger? logger, TokenizerLoader loader)
    {
        if (loader(encoding, out var tokenizer, out var error))
        {
            // A releasable shared tokenizer is looked up per count, so an idle gateway can free it.
            return tokenizer.Releasable ? new ChatTokenCounter(rules, encoding) : new ChatTokenCounter(tokenizer, rules);
        }

        if (logger is not null)
        {
            Log.TokenizerDataUnavailable(logger, encoding, model, error);
        }

        return new ChatTokenCounter(rules);
    }

    /// <summary>A counter that estimates (about four characters a token), for when no vocabulary is wanted.</summary>
    public static ChatTokenCounter CreateEstimating(ChatTokenRules? rules = null) => new(rules ?? ChatTokenRules.Default);

    /// <summary>Tokens of a plain text (special-token text counts as ordinary text).</summary>
    public int CountText(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 0;
        }

        return Tokenizer?.CountTokens(text) ?? TextEstimate.Count(text);
    }

    /// <summary>
    /// Prompt tokens of a conversation: each message's overhead and fields, plus the reply primer.
    /// </summary>
    public int CountMessages(IEnumerable<Message> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var total = 0;
        foreach (var message in messages)
        {
            total += CountMessage(message);
        }

        return total + Rules.ReplyPrimerTokens;
    }

    /// <summary>Tokens the function definitions add to the prompt; 0 when there are none.</summary>
    public int CountTools(IEnumerable<Tool> tools)
    {
        ArgumentNullException.ThrowIfNull(tools);
        var total = 0;
        var any = false;
        foreach (var tool in tools)
        {
            any = true;
            total += CountTool(tool);
        }

        return any ? total + Rules.FunctionsEndTokens : 0;
    }

    /// <summary>
    /// Prompt tokens of a whole request: messages, reply primer, tool definitions and a JSON-schema
    /// response format. What the provider will report as input tokens, within the approximations above.
    /// </summary>
    public int CountPrompt(CompletionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var total = CountMessages(request.Messages) + CountTools(request.Tools);
        if (request.ResponseFormat is { Type: ResponseFormatType.JsonSchema, JsonSchema: { } schema })
        {
            total += CountText(schema.Name);
            if (schema.Schema is not null)
            {
                total += CountText(CompactJson(Value.ForStruct(schema.Schema)));
            }
        }

        return total;
    }

    /// <summary>
    /// Prompt tokens of a request, counted only as far as needed to know whether they pass
    /// <paramref name="stopAbove"/>: the same count as <see cref="CountPrompt(CompletionRequest)"/>
    /// (within a token or two per 16K characters) while it is at most <paramref name="stopAbove"/>;
    /// once past it, counting stops and some number above <paramref name="stopAbove"/> comes back.
    /// Long texts are counted in slices cut at whitespace, so a 10 MB prompt costs about as much
    /// as <paramref name="stopAbove"/> tokens of it.
    /// </summary>
    public int CountPrompt(CompletionRequest request, int stopAbove)
    {
        ArgumentNullException.ThrowIfNull(request);
        var total = 0;
        foreach (var message in request.Messages)
        {
            total += CountMessage(message, stopAbove - total);
            if (total > stopAbove)
            {
                return total;
            }
        }

        total += Rules.ReplyPrimerTokens + CountTools(request.Tools);
        if (total <= stopAbove && request.ResponseFormat is { Type: ResponseFormatType.JsonSchema, JsonSchema: { } schema })
        {
            total += CountText(schema.Name);
            if (schema.Schema is not null)
            {
                total += CountText(CompactJson(Value.ForStruct(schema.Schema)));
            }
        }

        return total;
    }

    /// <summary>Characters per slice when a long text is counted against a budget.</summary>
    internal const int SliceChars = 16 * 1024;

    /// <summary>Tokens of <paramref name="text"/>, or, once past <paramref name="budget"/>, some count above it.</summary>
    private int CountText(string? text, int budget)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 0;
        }

        if (budget == int.MaxValue || text.Length <= SliceChars || Tokenizer is not { } tokenizer)
        {
            return CountText(text);
        }

        var total = 0;
        var rest = text.AsSpan();
        while (!rest.IsEmpty)
        {
            var length = SliceLength(rest);
            total += tokenizer.CountTokens(rest[..length]);
            if (total > budget)
            {
                return total;
            }

            rest = rest[length..];
        }

        return total;
    }

    /// <summary>
    /// Up to <see cref="SliceChars"/> characters, ending before a whitespace character where the
    /// second half of the slice has one (the pre-tokenizer splits there too), never inside a surrogate pair.
    /// </summary>
    private static int SliceLength(ReadOnlySpan<char> text)
    {
        if (text.Length <= SliceChars)
        {
            return text.Length;
        }

        var window = text[(SliceChars / 2)..SliceChars];
        var cut = window.LastIndexOfAny(' ', '\n');
        if (cut > 0)
        {
            return (SliceChars / 2) + cut;
        }

        return char.IsHighSurrogate(text[SliceChars - 1]) ? SliceChars - 1 : SliceChars;
    }

    private int CountMessage(Message message, int budget = int.MaxValue)
    {
        var total = Rules.TokensPerMessage + CountText(RoleName(message.Role)) + CountText(message.Content, budget);
        foreach (var part in message.Parts)
        {
            total += part.PartCase switch
            {
                ContentPart.PartOneofCase.Text => CountText(part.Text, budget == int.MaxValue ? budget : budget - total),
                ContentPart.PartOneofCase.Image => string.Equals(part.Image.Detail, "low", StringComparison.OrdinalIgnoreCase) ? Rules.LowDetailImageTokens : Rules.ImageTokens,
                _ => 0,
            };
        }

        if (message.Name.Length > 0)
        {
            total += CountText(message.Name) + Rules.TokensPerName;
        }

        if (message.ToolCallId.Length > 0)
        {
            total += CountText(message.ToolCallId);
        }

        foreach (var call in message.ToolCalls)
        {
            total += Rules.ToolCallTokens + CountText(call.Name) + CountText(call.ArgumentsJson, budget == int.MaxValue ? budget : budget - total);
        }

        return total;
    }

    private int CountTool(Tool tool)
    {
        var total = Rules.FunctionInitTokens + CountText(tool.Name + ":" + WithoutFinalPeriod(tool.Description));
        if (tool.Parameters is null
            || !tool.Parameters.Fields.TryGetValue("properties", out var propertiesValue)
            || propertiesValue.KindCase != Value.KindOneofCase.StructValue
            || propertiesValue.StructValue.Fields.Count == 0)
        {
            return total;
        }

        total += Rules.PropertiesInitTokens;
        foreach (var (key, value) in propertiesValue.StructValue.Fields)
        {
            total += Rules.PropertyKeyTokens;
            var schema = value.KindCase == Value.KindOneofCase.StructValue ? value.StructValue.Fields : null;
            var type = "";
            var description = "";
            if (schema is not null)
            {
                type = TypeText(schema.TryGetValue("type", out var t) ? t : null);
                description = schema.TryGetValue("description", out var d) && d.KindCase == Value.KindOneofCase.StringValue ? d.StringValue : "";
                if (schema.TryGetValue("enum", out var items) && items.KindCase == Value.KindOneofCase.ListValue)
                {
                    total += Rules.EnumInitTokens;
                    foreach (var item in items.ListValue.Values)
                    {
                        total += Rules.EnumItemTokens + CountText(item.KindCase == Value.KindOneofCase.StringValue ? item.StringValue : CompactJson(item));
                    }
                }

                foreach (var nested in (ReadOnlySpan<string>)["properties", "items"])
                {
                    if (schema.TryGetValue(nested, out var sub))
                    {
                        total += CountText(CompactJson(sub));
                    }
                }
            }

            total += CountText(key + ":" + type + ":" + WithoutFinalPeriod(description));
        }

        return total;
    }

    private static string TypeText(Value? type) => type?.KindCase switch
    {
        Value.KindOneofCase.StringValue => type.StringValue,
        Value.KindOneofCase.ListValue => string.Join('|', type.ListValue.Values.Select(static v => v.StringValue)),
        _ => "",
    };

    private static string WithoutFinalPeriod(string text) => text.EndsWith('.') ? text[..^1] : text;

    private static string RoleName(Role role) => role switch
    {
        Role.System => "system",
        Role.Assistant => "assistant",
        Role.Tool => "tool",
        _ => "user",
    };

    private static string CompactJson(Value value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, value);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);

        static void Write(Utf8JsonWriter writer, Value value)
        {
            switch (value.KindCase)
            {
                case Value.KindOneofCase.StructValue:
                    writer.WriteStartObject();
                    foreach (var (key, field) in value.StructValue.Fields)
                    {
                        writer.WritePropertyName(key);
                        Write(writer, field);
                    }

                    writer.WriteEndObject();
                    break;
                case Value.KindOneofCase.ListValue:
                    writer.WriteStartArray();
                    foreach (var item in value.ListValue.Values)
                    {
                        Write(writer, item);
                    }

                    writer.WriteEndArray();
                    break;
                case Value.KindOneofCase.StringValue:
                    writer.WriteStringValue(value.StringValue);
                    break;
                case Value.KindOneofCase.NumberValue:
                    writer.WriteNumberValue(value.NumberValue);
                    break;
                case Value.KindOneofCase.BoolValue:
                    writer.WriteBooleanValue(value.BoolValue);
                    break;
                default:
                    writer.WriteNullValue();
                    break;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The {Encoding} tokenizer is unavailable, so token counts (first needed for model {Model}) are estimated from text length. {Reason}", EventName = "TokenizerDataUnavailable")]
        public static partial void TokenizerDataUnavailable(ILogger logger, string encoding, string model, string reason);
    }
}
