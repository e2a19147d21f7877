using Gateway.Grpc.Adapters.Anthropic;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Grpc.Adapters.Tests;

public sealed class AnthropicAdapterTests : IAsyncLifetime
{
    private FakeUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await FakeUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private static AnthropicAdapter CreateSut() => new(new DictionarySecrets(), TimeProvider.System, NullLogger<AnthropicAdapter>.Instance);

    private ProviderCall Call(CompletionRequest request)
        => new(request, Calls.Deployment("anthropic", "claude-sonnet-4-5", new() { ["base_url"] = _upstream.BaseUrl, ["api_key"] = "env:TEST_KEY" }));

    private static readonly Struct WeatherSchema = new()
    {
        Fields =
        {
            ["type"] = Value.ForString("object"),
            ["properties"] = Value.ForStruct(new Struct { Fields = { ["location"] = Value.ForStruct(new Struct { Fields = { ["type"] = Value.ForString("string") } }) } }),
        },
    };

    [Fact]
    public async Task Complete_SystemPulledOutRolesMergedToolBlocks()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, """
            {
              "id": "msg_01Aq9w938a90dw8q",
              "type": "message",
              "role": "assistant",
              "model": "claude-sonnet-4-5-20250929",
              "content": [
                { "type": "text", "text": "I'll check the weather." },
                { "type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": { "location": "San Francisco, CA" } }
              ],
              "stop_reason": "tool_use",
              "stop_sequence": null,
              "usage": { "input_tokens": 472, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": 91 }
            }
            """);
        var request = new CompletionRequest
        {
            Temperature = 1.5,
            Stop = { "###" },
            User = "u-9",
            Messages =
            {
                new Message { Role = Role.System, Content = "You are terse." },
                new Message { Role = Role.User, Content = "Weather?" },
                new Message { Role = Role.User, Parts = { new ContentPart { Image = new ImagePart { Url = "data:image/jpeg;base64,/9j/AA==" } } } },
                new Message { Role = Role.Assistant, Content = "Checking.", ToolCalls = { new ToolCall { Id = "toolu_1", Name = "get_weather", ArgumentsJson = "{\"location\":\"Oslo\"}" } } },
                new Message { Role = Role.Tool, ToolCallId = "toolu_1", Content = "3C" },
                new Message { Role = Role.User, Content = "And Paris?" },
            },
            Tools = { new Tool { Name = "get_weather", Description = "Weather", Parameters = WeatherSchema } },
            ToolChoice = new ToolChoice { Mode = ToolChoiceMode.Required },
        };
        var response = await CreateSut().CompleteAsync(Call(request), default);

        Assert.Equal("/v1/messages", _upstream.LastPathAndQuery);
        Assert.Equal("sk-test-123", _upstream.LastHeaders!["x-api-key"].ToString());
        Assert.Equal("2023-06-01", _upstream.LastHeaders["anthropic-version"].ToString());
        var body = _upstream.LastBody;
        Assert.Equal("claude-sonnet-4-5", body.GetProperty("model").GetString());
        Assert.Equal(4096, body.GetProperty("max_tokens").GetInt32());
        Assert.Equal("You are terse.", body.GetProperty("system").GetString());
        Assert.Equal(1.0, body.GetProperty("temperature").GetDouble());
        Assert.Equal("###", body.GetProperty("stop_sequences")[0].GetString());
        Assert.Equal("u-9", body.GetProperty("metadata").GetProperty("user_id").GetString());
        Assert.Equal("any", body.GetProperty("tool_choice").GetProperty("type").GetString());
        Assert.Equal("object", body.GetProperty("tools")[0].GetProperty("input_schema").GetProperty("type").GetString());
        var messages = body.GetProperty("messages");
        Assert.Equal(3, messages.GetArrayLength());
        Assert.Equal(["user", "assistant", "user"], messages.EnumerateArray().Select(m => m.GetProperty("role").GetString()!));
        var first = messages[0].GetProperty("content");
        Assert.Equal("text", first[0].GetProperty("type").GetString());
        Assert.Equal("base64", first[1].GetProperty("source").GetProperty("type").GetString());
        Assert.Equal("image/jpeg", first[1].GetProperty("source").GetProperty("media_type").GetString());
        var toolUse = messages[1].GetProperty("content")[1];
        Assert.Equal(("tool_use", "toolu_1", "Oslo"), (toolUse.GetProperty("type").GetString(), toolUse.GetProperty("id").GetString(), toolUse.GetProperty("input").GetProperty("location").GetString()));
        var last = messages[2].GetProperty("content");
        Assert.Equal(("tool_result", "toolu_1", "3C"), (last[0].GetProperty("type").GetString(), last[0].GetProperty("tool_use_id").GetString(), last[0].GetProperty("content").GetString()));
        Assert.Equal("And Paris?", last[1].GetProperty("text").GetString());

        Assert.Equal("I'll check the weather.", response.Message.Content);
        Assert.Equal(FinishReason.ToolCalls, response.FinishReason);
        var call = Assert.Single(response.Message.ToolCalls);
        Assert.Equal(("toolu_01A09q90qw90lq917835lq9", "get_weather"), (call.Id, call.Name));
        Assert.Equal("San Francisco, CA", System.Text.Json.JsonDocument.Parse(call.ArgumentsJson).RootElement.GetProperty("location").GetString());
        Assert.Equal((582, 100, 91), (response.Usage.InputTokens, response.Usage.CachedInputTokens, response.Usage.OutputTokens));
    }

    private const string ToolStream = """
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

        event: ping
        data: {"type": "ping"}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", checking."}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":0}

        event: content_block_start
        data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"San Francisco, CA\"}"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":1}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

        event: message_stop
        data: {"type":"message_stop"}


        """;

    [Fact]
    public async Task Stream_TextAndToolUse_TranslatedFinishLast()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx, ToolStream.Replace("\r\n", "\n", StringComparison.Ordinal));
        var chunks = await Calls.Collect(CreateSut().StreamAsync(Call(Calls.Hello()), default));
        Assert.True(_upstream.LastBody.GetProperty("stream").GetBoolean());
        Assert.Equal("Okay, checking.", Calls.Text(chunks));
        var tools = chunks.Where(c => c.EventCase == CompletionChunk.EventOneofCase.ToolCallDelta).Select(c => c.ToolCallDelta).ToList();
        Assert.Equal(("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", 0), (tools[0].Id, tools[0].Name, tools[0].Index));
        Assert.Equal("{\"location\": \"San Francisco, CA\"}", string.Concat(tools.Select(t => t.ArgumentsDelta)));
        Assert.Equal((472, 89), (chunks[^2].Usage.InputTokens, chunks[^2].Usage.OutputTokens));
        Assert.Equal(FinishReason.ToolCalls, chunks[^1].Finish.Reason);
    }

    [Fact]
    public async Task Stream_NoMessageStop_StreamInterrupted()
    {
        var cut = ToolStream.Replace("\r\n", "\n", StringComparison.Ordinal);
        cut = cut[..cut.IndexOf("event: message_stop", StringComparison.Ordinal)];
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx, cut);
        var (chunks, error) = await Calls.CollectUntilError(CreateSut().StreamAsync(Call(Calls.Hello()), default));
        Assert.Equal(ProviderErrorKind.StreamInterrupted, error.Kind);
        Assert.Contains("message_stop", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(chunks, c => c.EventCase == CompletionChunk.EventOneofCase.Finish);
    }

    [Fact]
    public async Task Stream_OverloadedErrorEvent_Overloaded()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx,
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
            "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n");
        var (_, error) = await Calls.CollectUntilError(CreateSut().StreamAsync(Call(Calls.Hello()), default));
        Assert.Equal(ProviderErrorKind.Overloaded, error.Kind);
    }

    [Theory]
    [InlineData(529, "overloaded_error", "Overloaded", ProviderErrorKind.Overloaded)]
    [InlineData(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", ProviderErrorKind.RateLimited)]
    [InlineData(400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum", ProviderErrorKind.ContextLengthExceeded)]
    [InlineData(400, "invalid_request_error", "max_tokens: Field required", ProviderErrorKind.BadRequest)]
    [InlineData(401, "authentication_error", "invalid x-api-key", ProviderErrorKind.AuthFailure)]
    [InlineData(403, "permission_error", "Your API key does not have permission to use the specified resource.", ProviderErrorKind.AuthFailure)]
    [InlineData(404, "not_found_error", "model: claude-9", ProviderErrorKind.ModelNotFound)]
    [InlineData(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", ProviderErrorKind.BadRequest)]
    [InlineData(500, "api_error", "Internal server error", ProviderErrorKind.ServerError)]
    public async Task Complete_ErrorResponses_Classified(int status, string type, string message, ProviderErrorKind expected)
    {
        _upstream.Handler = ctx =>
        {
            if (status == 429)
            {
                ctx.Response.Headers["retry-after"] = "12";
            }

            return FakeUpstream.Json(ctx, $"{{\"type\":\"error\",\"error\":{{\"type\":\"{type}\",\"message\":\"{message}\"}},\"request_id\":\"req_011CSHoEeqs5C35K2UUqR7Fy\"}}", status);
        };
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(Call(Calls.Hello()), default));
        Assert.Equal(expected, error.Kind);
        Assert.Equal(status == 429 ? TimeSpan.FromSeconds(12) : null, error.RetryAfter);
    }

    [Fact]
    public async Task Complete_JsonSchema_ForcedToolInputBecomesText()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, """
            {"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"tool_use","id":"toolu_1","name":"weather_report","input":{"location":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":50,"output_tokens":12}}
            """);
        var request = Calls.Hello();
        request.ResponseFormat = new ResponseFormat { Type = ResponseFormatType.JsonSchema, JsonSchema = new JsonSchema { Name = "weather_report", Schema = WeatherSchema } };
        var response = await CreateSut().CompleteAsync(Call(request), default);
        var body = _upstream.LastBody;
        Assert.Equal("weather_report", body.GetProperty("tools")[0].GetProperty("name").GetString());
        Assert.Equal(("tool", "weather_report"), (body.GetProperty("tool_choice").GetProperty("type").GetString(), body.GetProperty("tool_choice").GetProperty("name").GetString()));
        Assert.Equal("{\"location\":\"Paris\"}", response.Message.Content);
        Assert.Empty(response.Message.ToolCalls);
        Assert.Equal(FinishReason.Stop, response.FinishReason);
    }

    [Fact]
    public async Task Complete_JsonObject_InstructionInSystem()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[{\"type\":\"text\",\"text\":\"{}\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}");
        var request = Calls.Hello();
        request.ResponseFormat = new ResponseFormat { Type = ResponseFormatType.JsonObject };
        await CreateSut().CompleteAsync(Call(request), default);
        Assert.Contains("single JSON object", _upstream.LastBody.GetProperty("system").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_RefusalStopReason_ContentFilter()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"stop_reason\":\"refusal\",\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}");
        var response = await CreateSut().CompleteAsync(Call(Calls.Hello()), default);
        Assert.Equal(FinishReason.ContentFilter, response.FinishReason);
    }

    [Fact]
    public async Task AudioInput_RefusedBeforeSending()
    {
        var request = Calls.Hello();
        request.Messages[0].Parts.Add(new ContentPart { Audio = new AudioPart { Data = Google.Protobuf.ByteString.CopyFrom(1), Format = "wav" } });
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(Call(request), default));
        Assert.Equal(ProviderErrorKind.BadRequest, error.Kind);
        Assert.Equal(0, _upstream.Requests);
    }

    [Fact]
    public async Task Stream_CallerCancels_UpstreamRequestAborted()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.Handler = async ctx =>
        {
            ctx.RequestAborted.Register(() => aborted.TrySetResult());
            await FakeUpstream.Sse(ctx, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n");
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        };
        using var cts = new CancellationTokenSource();
        await using var events = CreateSut().StreamAsync(Call(Calls.Hello()), cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await events.MoveNextAsync());
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await events.MoveNextAsync());
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
