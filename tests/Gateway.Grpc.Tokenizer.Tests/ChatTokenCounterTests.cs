using System.Diagnostics.CodeAnalysis;
using Gateway.Grpc.Tokenizer.Chat;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Tokenizer.Tests;

public sealed class ChatTokenCounterTests
{
    // The OpenAI Cookbook's "How to count tokens with tiktoken" example conversation; the cookbook
    // reports the API's usage.prompt_tokens for it: 129 on gpt-3.5-turbo / gpt-4-0613 / gpt-4,
    // 124 on gpt-4o / gpt-4o-mini.
    private static Message[] CookbookMessages() =>
    [
        new() { Role = Role.System, Content = "You are a helpful, pattern-following assistant that translates corporate jargon into plain English." },
        new() { Role = Role.System, Name = "example_user", Content = "New synergies will help drive top-line growth." },
        new() { Role = Role.System, Name = "example_assistant", Content = "Things working well together will increase revenue." },
        new() { Role = Role.System, Name = "example_user", Content = "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
        new() { Role = Role.System, Name = "example_assistant", Content = "Let's talk later when we're less busy about how to do better." },
        new() { Role = Role.User, Content = "This late pivot means we don't have time to boil the ocean for the client deliverable." },
    ];

    // The cookbook's tool example; the API reported 105 prompt tokens on gpt-3.5-turbo and gpt-4,
    // 101 on gpt-4o and gpt-4o-mini.
    private static CompletionRequest CookbookToolRequest(string model)
    {
        var properties = new Struct();
        properties.Fields["location"] = Value.ForStruct(new Struct
        {
            Fields =
            {
                ["type"] = Value.ForString("string"),
                ["description"] = Value.ForString("The city and state, e.g. San Francisco, CA"),
            },
        });
        properties.Fields["unit"] = Value.ForStruct(new Struct
        {
            Fields =
            {
                ["type"] = Value.ForString("string"),
                ["description"] = Value.ForString("The unit of temperature to return"),
                ["enum"] = Value.ForList(Value.ForString("celsius"), Value.ForString("fahrenheit")),
            },
        });
        var parameters = new Struct
        {
            Fields =
            {
                ["type"] = Value.ForString("object"),
                ["properties"] = Value.ForStruct(properties),
                ["required"] = Value.ForList(Value.ForString("location")),
            },
        };
        return new CompletionRequest
        {
            Model = model,
            Messages =
            {
                new Message { Role = Role.System, Content = "You are a helpful assistant that can answer to questions about the weather." },
                new Message { Role = Role.User, Content = "What's the weather like in San Francisco?" },
            },
            Tools = { new Tool { Name = "get_current_weather", Description = "Get the current weather in a given location", Parameters = parameters } },
        };
    }

    [Theory]
    [InlineData("gpt-4-0613", 129)]
    [InlineData("gpt-4", 129)]
    [InlineData("gpt-3.5-turbo", 129)]
    [InlineData("gpt-4o", 124)]
    [InlineData("gpt-4o-mini", 124)]
    public void CountMessages_CookbookConversation_MatchesApiPromptTokens(string model, int expected)
    {
        var counter = ChatTokenCounter.ForModel(model);
        Assert.False(counter.IsEstimate, "tokenizer data must be available for this test");
        Assert.Equal(expected, counter.CountMessages(CookbookMessages()));
        Assert.Equal(expected, counter.CountPrompt(new CompletionRequest { Model = model, Messages = { CookbookMessages() } }));
    }

    [Theory]
    [InlineData("gpt-3.5-turbo", 105)]
    [InlineData("gpt-4", 105)]
    [InlineData("gpt-4o", 101)]
    [InlineData("gpt-4o-mini", 101)]
    public void CountPrompt_CookbookToolRequest_MatchesApiPromptTokens(string model, int expected)
    {
        var counter = ChatTokenCounter.ForModel(model);
        Assert.Equal(expected, counter.CountPrompt(CookbookToolRequest(model)));
    }

    [Fact]
    public void CountMessages_Gpt35Turbo0301_UsesItsOwnOverhead()
    {
        var modern = ChatTokenCounter.ForModel("gpt-3.5-turbo-0613");
        var old = ChatTokenCounter.ForModel("gpt-3.5-turbo-0301");
        Assert.Equal(4, old.Rules.TokensPerMessage);
        // 6 messages: +1 each for the message overhead; 4 names: -2 each for the name rule.
        Assert.Equal(modern.CountMessages(CookbookMessages()) + 6 - 8, old.CountMessages(CookbookMessages()));
    }

    [Fact]
    public void CountMessages_Empty_IsReplyPrimerOnly()
    {
        Assert.Equal(3, ChatTokenCounter.ForModel("gpt-4o").CountMessages([]));
        Assert.Equal(0, ChatTokenCounter.ForModel("gpt-4o").CountTools([]));
    }

    [Fact]
    public void CountPrompt_PartsToolCallsAndImages_AddTheirDocumentedCosts()
    {
        var counter = ChatTokenCounter.ForModel("gpt-4o");
        var text = new Message { Role = Role.User, Content = "Describe this." };
        var baseline = counter.CountMessages([text]);

        var withParts = text.Clone();
        withParts.Parts.Add(new ContentPart { Text = "More words here" });
        withParts.Parts.Add(new ContentPart { Image = new ImagePart { Url = "https://example.com/a.png", Detail = "low" } });
        withParts.Parts.Add(new ContentPart { Image = new ImagePart { Url = "https://example.com/b.png" } });
        Assert.Equal(baseline + counter.CountText("More words here") + 85 + 765, counter.CountMessages([withParts]));

        var call = new Message { Role = Role.Assistant, ToolCalls = { new ToolCall { Id = "call_1", Name = "lookup", ArgumentsJson = "{\"q\":\"tides\"}" } } };
        var callBaseline = counter.CountMessages([new Message { Role = Role.Assistant }]);
        Assert.Equal(callBaseline + 3 + counter.CountText("lookup") + counter.CountText("{\"q\":\"tides\"}"), counter.CountMessages([call]));
    }

    [Fact]
    public void CountPrompt_JsonSchemaResponseFormat_CountsSchema()
    {
        var counter = ChatTokenCounter.ForModel("gpt-4o");
        var request = new CompletionRequest { Model = "gpt-4o", Messages = { new Message { Role = Role.User, Content = "hi" } } };
        var without = counter.CountPrompt(request);
        request.ResponseFormat = new ResponseFormat
        {
            Type = ResponseFormatType.JsonSchema,
            JsonSchema = new JsonSchema { Name = "answer", Schema = new Struct { Fields = { ["type"] = Value.ForString("object") } } },
        };
        Assert.Equal(without + counter.CountText("answer") + counter.CountText("{\"type\":\"object\"}"), counter.CountPrompt(request));
    }

    [Fact]
    public void ForModel_UnknownModel_UsesO200kApproximation()
    {
        var counter = ChatTokenCounter.ForModel("claude-sonnet-4");
        Assert.Equal("o200k_base", counter.Tokenizer!.EncodingName);
        Assert.Same(counter, ChatTokenCounter.ForModel("claude-opus-4"));
    }

    [Fact]
    public void Resolve_DataMissing_EstimatesAndLogsWarning()
    {
        var logger = new ListLogger();
        var counter = ChatTokenCounter.Resolve("gpt-4o", "o200k_base", ChatTokenRules.Default, logger, MissingData);

        Assert.True(counter.IsEstimate);
        Assert.Null(counter.Tokenizer);
        var entry = Assert.Single(logger.Entries);
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Equal("TokenizerDataUnavailable", entry.Event.Name);
        Assert.Contains("o200k_base", entry.Message, StringComparison.Ordinal);
        Assert.Contains("run the fetch script", entry.Message, StringComparison.Ordinal);

        // The estimate keeps the overhead rules: 3 + role ("user": 1) + content (three 5-letter words: 2 each), 3 for the primer.
        Assert.Equal(3 + 1 + 6 + 3, counter.CountMessages([new Message { Role = Role.User, Content = "hello there world" }]));
        Assert.True(counter.CountPrompt(CookbookToolRequest("gpt-4o")) > 50);
    }

    [Fact]
    public void CountPrompt_Bounded_UnderTheLimit_SameAsTheFullCount()
    {
        var counter = ChatTokenCounter.ForModel("gpt-4o");
        var request = CookbookToolRequest("gpt-4o");
        Assert.Equal(counter.CountPrompt(request), counter.CountPrompt(request, stopAbove: 10_000));

        // A long text is counted in whitespace-cut slices: the same count as in one piece.
        var prose = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog, again and again.\n", 2_000));
        var longRequest = new CompletionRequest { Model = "gpt-4o", Messages = { new Message { Role = Role.User, Content = prose } } };
        Assert.True(prose.Length > 100_000);
        Assert.Equal(counter.CountPrompt(longRequest), counter.CountPrompt(longRequest, stopAbove: 1_000_000));
    }

    [Fact]
    public void CountPrompt_Bounded_StopsSoonAfterTheLimit()
    {
        var counter = ChatTokenCounter.ForModel("gpt-4o");
        // 10 MB of text: about two million tokens in full.
        var request = new CompletionRequest { Model = "gpt-4o", Messages = { new Message { Role = Role.User, Content = string.Concat(Enumerable.Repeat("word ", 2_000_000)) } } };
        var count = counter.CountPrompt(request, stopAbove: 16_384);

        Assert.True(count > 16_384, $"count {count}");
        // One 16K-character slice is about 3300 tokens of this text: it stops within one slice of the limit.
        Assert.True(count < 16_384 + 4_000, $"count {count}: counting went on past the limit");
    }

    private static bool MissingData(string encoding, [NotNullWhen(true)] out TiktokenTokenizer? tokenizer, [NotNullWhen(false)] out string? error)
    {
        tokenizer = null;
        error = "No vocabulary; run the fetch script.";
        return false;
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, EventId Event, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => Entries.Add((logLevel, eventId, formatter(state, exception)));
    }
}
