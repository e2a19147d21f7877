using System.Text.Json;
using Gateway.Grpc.Adapters.OpenAI;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Grpc.Adapters.Tests;

public sealed class OpenAIAdapterTests : IAsyncLifetime
{
    private FakeUpstream _upstream = null!;
    private readonly DictionarySecrets _secrets = new();

    public async Task InitializeAsync() => _upstream = await FakeUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private OpenAIChatAdapter CreateSut(OpenAIFlavor flavor = OpenAIFlavor.OpenAI)
        => new(flavor, _secrets, TimeProvider.System, NullLogger<OpenAIChatAdapter>.Instance);

    private ProviderCall Call(CompletionRequest request, Dictionary<string, string>? extra = null, string provider = "openai")
    {
        var settings = new Dictionary<string, string> { ["base_url"] = _upstream.BaseUrl + "/v1", ["api_key"] = "env:TEST_KEY" };
        foreach (var (k, v) in extra ?? [])
        {
            settings[k] = v;
        }

        return new ProviderCall(request, Calls.Deployment(provider, "gpt-4o-mini", settings));
    }

    internal const string UnaryToolBody = """
        {
          "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
          "object": "chat.completion",
          "created": 1741570283,
          "model": "gpt-4o-mini-2024-07-18",
          "choices": [
            {
              "index": 0,
              "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": [
                  {
                    "id": "call_abc123",
                    "type": "function",
                    "function": { "name": "get_weather", "arguments": "{\"location\":\"Paris\"}" }
                  }
                ],
                "refusal": null,
                "annotations": []
              },
              "logprobs": null,
              "finish_reason": "tool_calls"
            }
          ],
          "usage": {
            "prompt_tokens": 1117,
            "completion_tokens": 46,
            "total_tokens": 1163,
            "prompt_tokens_details": { "cached_tokens": 1024, "audio_tokens": 0 },
            "completion_tokens_details": { "reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0 }
          },
          "service_tier": "default",
          "system_fingerprint": "fp_fc9f1d7035"
        }
        """;

    private static CompletionRequest RichRequest()
    {
        var parameters = new Struct
        {
            Fields =
            {
                ["type"] = Value.ForString("object"),
                ["properties"] = Value.ForStruct(new Struct { Fields = { ["location"] = Value.ForStruct(new Struct { Fields = { ["type"] = Value.ForString("string") } }) } }),
                ["required"] = Value.ForList(Value.ForString("location")),
            },
        };
        return new CompletionRequest
        {
            Model = "public",
            MaxTokens = 200,
            Temperature = 0.2,
            TopP = 0.9,
            Seed = 42,
            User = "user-7",
            Stop = { "END" },
            Messages =
            {
                new Message { Role = Role.System, Content = "Be brief." },
                new Message { Role = Role.User, Content = "What is this?", Parts = { new ContentPart { Image = new ImagePart { Data = Google.Protobuf.ByteString.CopyFrom(1, 2, 3), MediaType = "image/png", Detail = "low" } } } },
                new Message { Role = Role.Assistant, ToolCalls = { new ToolCall { Id = "call_1", Name = "get_weather", ArgumentsJson = "{\"location\":\"Oslo\"}" } } },
                new Message { Role = Role.Tool, ToolCallId = "call_1", Content = "{\"temp\":3}" },
            },
            Tools = { new Tool { Name = "get_weather", Description = "Weather by city", Parameters = parameters, Strict = true } },
            ToolChoice = new ToolChoice { FunctionName = "get_weather" },
            ResponseFormat = new ResponseFormat { Type = ResponseFormatType.JsonSchema, JsonSchema = new JsonSchema { Name = "answer", Schema = parameters, Strict = true } },
        };
    }

    [Fact]
    public async Task Complete_ToolCall_RequestAndResponseTranslated()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, UnaryToolBody);
        var response = await CreateSut().CompleteAsync(Call(RichRequest(), new() { ["organization"] = "org-1", ["headers.X-Trace"] = "t1" }), default);

        Assert.Equal("/v1/chat/completions", _upstream.LastPathAndQuery);
        Assert.Equal("Bearer sk-test-123", _upstream.LastHeaders!.Authorization.ToString());
        Assert.Equal("org-1", _upstream.LastHeaders["OpenAI-Organization"].ToString());
        Assert.Equal("t1", _upstream.LastHeaders["X-Trace"].ToString());
        var body = _upstream.LastBody;
        Assert.Equal("gpt-4o-mini", body.GetProperty("model").GetString());
        Assert.Equal(200, body.GetProperty("max_completion_tokens").GetInt32());
        Assert.False(body.TryGetProperty("max_tokens", out _));
        Assert.Equal(42, body.GetProperty("seed").GetInt64());
        Assert.Equal("user-7", body.GetProperty("user").GetString());
        Assert.Equal("END", body.GetProperty("stop")[0].GetString());
        Assert.False(body.TryGetProperty("stream", out _));
        var messages = body.GetProperty("messages");
        Assert.Equal("system", messages[0].GetProperty("role").GetString());
        var image = messages[1].GetProperty("content")[1];
        Assert.Equal("image_url", image.GetProperty("type").GetString());
        Assert.Equal("data:image/png;base64,AQID", image.GetProperty("image_url").GetProperty("url").GetString());
        Assert.Equal(JsonValueKind.Null, messages[2].GetProperty("content").ValueKind);
        Assert.Equal("{\"location\":\"Oslo\"}", messages[2].GetProperty("tool_calls")[0].GetProperty("function").GetProperty("arguments").GetString());
        Assert.Equal("call_1", messages[3].GetProperty("tool_call_id").GetString());
        var tool = body.GetProperty("tools")[0];
        Assert.Equal("function", tool.GetProperty("type").GetString());
        Assert.Equal("object", tool.GetProperty("function").GetProperty("parameters").GetProperty("type").GetString());
        Assert.True(tool.GetProperty("function").GetProperty("strict").GetBoolean());
        Assert.Equal("get_weather", body.GetProperty("tool_choice").GetProperty("function").GetProperty("name").GetString());
        var format = body.GetProperty("response_format");
        Assert.Equal("json_schema", format.GetProperty("type").GetString());
        Assert.Equal("answer", format.GetProperty("json_schema").GetProperty("name").GetString());
        Assert.True(format.GetProperty("json_schema").GetProperty("strict").GetBoolean());

        Assert.Equal(FinishReason.ToolCalls, response.FinishReason);
        var call = Assert.Single(response.Message.ToolCalls);
        Assert.Equal(("call_abc123", "get_weather", "{\"location\":\"Paris\"}"), (call.Id, call.Name, call.ArgumentsJson));
        Assert.Equal("gpt-4o-mini-2024-07-18", response.Model);
        Assert.Equal("openai", response.Provider);
        Assert.Equal((1117, 46, 1024, false), (response.Usage.InputTokens, response.Usage.OutputTokens, response.Usage.CachedInputTokens, response.Usage.Estimated));
    }

    [Fact]
    public async Task Stream_TextThenUsageThenDone_FinishLastWithUsage()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx,
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
            ": keep-alive\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}],\"usage\":null}\n\n",
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11,\"prompt_tokens_details\":{\"cached_tokens\":4},\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n",
            "data: [DONE]\n\n");
        var chunks = await Calls.Collect(CreateSut().StreamAsync(Call(Calls.Hello()), default));

        Assert.True(_upstream.LastBody.GetProperty("stream").GetBoolean());
        Assert.True(_upstream.LastBody.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        Assert.Equal("Hello there", Calls.Text(chunks));
        Assert.Equal(CompletionChunk.EventOneofCase.Usage, chunks[^2].EventCase);
        Assert.Equal((9, 2, 4, 1, false), (chunks[^2].Usage.InputTokens, chunks[^2].Usage.OutputTokens, chunks[^2].Usage.CachedInputTokens, chunks[^2].Usage.ReasoningTokens, chunks[^2].Usage.Estimated));
        Assert.Equal(FinishReason.Length, chunks[^1].Finish.Reason);
        Assert.Single(chunks, c => c.EventCase == CompletionChunk.EventOneofCase.Finish);
    }

    [Fact]
    public async Task Stream_ToolCallDeltas_PassedWithIndexIdNameArguments()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx,
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_DdmO9pD3xa9XTPNJ32zg2hcA\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"location\\\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":\\\"Paris\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":17,\"total_tokens\":97}}\n\n",
            "data: [DONE]\n\n");
        var chunks = await Calls.Collect(CreateSut().StreamAsync(Call(Calls.Hello()), default));
        var deltas = chunks.Where(c => c.EventCase == CompletionChunk.EventOneofCase.ToolCallDelta).Select(c => c.ToolCallDelta).ToList();
        Assert.Equal(3, deltas.Count);
        Assert.Equal(("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather"), (deltas[0].Id, deltas[0].Name));
        Assert.All(deltas, d => Assert.Equal(0, d.Index));
        Assert.Equal("{\"location\":\"Paris\"}", string.Concat(deltas.Select(d => d.ArgumentsDelta)));
        Assert.Equal(FinishReason.ToolCalls, chunks[^1].Finish.Reason);
    }

    [Fact]
    public async Task Stream_EndsWithoutDone_StreamInterruptedAndNoFinish()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx,
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        var (chunks, error) = await Calls.CollectUntilError(CreateSut().StreamAsync(Call(Calls.Hello()), default));
        Assert.Equal(ProviderErrorKind.StreamInterrupted, error.Kind);
        Assert.Equal("Hi", Calls.Text(chunks));
        Assert.DoesNotContain(chunks, c => c.EventCase is CompletionChunk.EventOneofCase.Finish or CompletionChunk.EventOneofCase.Usage);
    }

    [Fact]
    public async Task Stream_ConnectionDropsMidStream_StreamInterrupted()
    {
        var firstEventSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.Handler = async ctx =>
        {
            await FakeUpstream.Sse(ctx, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n");
            await firstEventSeen.Task;
            ctx.Abort();
        };
        await using var events = CreateSut().StreamAsync(Call(Calls.Hello()), default).GetAsyncEnumerator();
        Assert.True(await events.MoveNextAsync());
        Assert.Equal("Hi", events.Current.Delta.Text);
        firstEventSeen.SetResult();
        var error = await Assert.ThrowsAsync<ProviderException>(async () => await events.MoveNextAsync());
        Assert.Equal(ProviderErrorKind.StreamInterrupted, error.Kind);
    }

    [Fact]
    public async Task Stream_ErrorEventInStream_Classified()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx,
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
            "data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
        var (_, error) = await Calls.CollectUntilError(CreateSut().StreamAsync(Call(Calls.Hello()), default));
        Assert.Equal(ProviderErrorKind.ServerError, error.Kind);
        Assert.Contains("server had an error", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_MalformedChunk_ServerErrorWithClearMessage()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"\n\n");
        var (_, error) = await Calls.CollectUntilError(CreateSut().StreamAsync(Call(Calls.Hello()), default));
        Assert.Equal(ProviderErrorKind.ServerError, error.Kind);
        Assert.Contains("malformed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Complete_MalformedJson_ServerError()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, "{\"id\":\"chatcmpl-1\",\"choices\":[");
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(Call(Calls.Hello()), default));
        Assert.Equal(ProviderErrorKind.ServerError, error.Kind);
        Assert.Contains("malformed", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(429, "{\"error\":{\"message\":\"Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.\",\"type\":\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}", ProviderErrorKind.RateLimited)]
    [InlineData(500, "{\"error\":{\"message\":\"The server had an error while processing your request. Sorry about that!\",\"type\":\"server_error\",\"param\":null,\"code\":null}}", ProviderErrorKind.ServerError)]
    [InlineData(502, "<html><body>Bad gateway</body></html>", ProviderErrorKind.ServerError)]
    [InlineData(503, "{\"error\":{\"message\":\"The engine is currently overloaded, please try again later.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}", ProviderErrorKind.Overloaded)]
    [InlineData(503, "{\"error\":{\"message\":\"Service unavailable.\",\"type\":\"server_error\"}}", ProviderErrorKind.ServerError)]
    [InlineData(529, "{\"error\":{\"message\":\"Overloaded\"}}", ProviderErrorKind.Overloaded)]
    [InlineData(400, "{\"error\":{\"message\":\"Invalid value for 'temperature': must be <= 2.\",\"type\":\"invalid_request_error\",\"param\":\"temperature\",\"code\":\"invalid_value\"}}", ProviderErrorKind.BadRequest)]
    [InlineData(422, "{\"detail\":\"Unprocessable\"}", ProviderErrorKind.BadRequest)]
    [InlineData(400, "{\"error\":{\"message\":\"This model's maximum context length is 128000 tokens. However, your messages resulted in 130021 tokens. Please reduce the length of the messages.\",\"type\":\"invalid_request_error\",\"param\":\"messages\",\"code\":\"context_length_exceeded\"}}", ProviderErrorKind.ContextLengthExceeded)]
    [InlineData(401, "{\"error\":{\"message\":\"Incorrect API key provided: sk-abc***xyz.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}", ProviderErrorKind.AuthFailure)]
    [InlineData(403, "{\"error\":{\"message\":\"Country, region, or territory not supported\",\"type\":\"request_forbidden\",\"code\":\"unsupported_country_region_territory\"}}", ProviderErrorKind.AuthFailure)]
    [InlineData(404, "{\"error\":{\"message\":\"The model `gpt-9` does not exist or you do not have access to it.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"model_not_found\"}}", ProviderErrorKind.ModelNotFound)]
    [InlineData(504, "", ProviderErrorKind.Timeout)]
    public async Task Complete_ErrorStatus_Classified(int status, string body, ProviderErrorKind expected)
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, body, status);
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(Call(Calls.Hello()), default));
        Assert.Equal(expected, error.Kind);
    }

    [Fact]
    public async Task Complete_429WithRetryAfterSeconds_RetryAfterSet()
    {
        _upstream.Handler = ctx =>
        {
            ctx.Response.Headers["Retry-After"] = "7";
            return FakeUpstream.Json(ctx, "{\"error\":{\"message\":\"Too many\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}", 429);
        };
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(Call(Calls.Hello()), default));
        Assert.Equal((ProviderErrorKind.RateLimited, TimeSpan.FromSeconds(7)), (error.Kind, error.RetryAfter));
    }

    [Fact]
    public async Task Complete_429WithRetryAfterMs_RetryAfterSet()
    {
        _upstream.Handler = ctx =>
        {
            ctx.Response.Headers["retry-after-ms"] = "1500";
            ctx.Response.Headers["Retry-After"] = "2";
            return FakeUpstream.Json(ctx, "{\"error\":{\"message\":\"Too many\"}}", 429);
        };
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(Call(Calls.Hello()), default));
        Assert.Equal(TimeSpan.FromMilliseconds(1500), error.RetryAfter);
    }

    [Fact]
    public async Task Complete_429WithBodyHintOnly_RetryAfterFromMessage()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, "{\"error\":{\"message\":\"Rate limit reached. Please try again in 6.5s. Visit https://platform.openai.com/account/rate-limits.\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}", 429);
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(Call(Calls.Hello()), default));
        Assert.Equal(TimeSpan.FromMilliseconds(6500), error.RetryAfter);
    }

    [Fact]
    public async Task Complete_ConnectionRefused_ConnectionFailure()
    {
        var call = new ProviderCall(Calls.Hello(), Calls.Deployment("openai", "m", new() { ["base_url"] = $"http://127.0.0.1:{Ports.Closed()}/v1", ["api_key"] = "env:TEST_KEY" }));
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(call, default));
        Assert.Equal(ProviderErrorKind.ConnectionFailure, error.Kind);
        var streamError = await Calls.CollectUntilError(CreateSut().StreamAsync(call, default));
        Assert.Equal(ProviderErrorKind.ConnectionFailure, streamError.Error.Kind);
    }

    [Fact]
    public async Task Complete_UpstreamTooSlow_Timeout()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.Handler = async ctx =>
        {
            try
            {
                await release.Task.WaitAsync(ctx.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
        };
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(Call(Calls.Hello(), new() { ["timeout_ms"] = "200" }), default));
        release.TrySetResult();
        Assert.Equal(ProviderErrorKind.Timeout, error.Kind);
    }

    [Fact]
    public async Task Complete_CallTimeoutShorterThanSetting_TimeoutAtTheCallsLimit()
    {
        // The dispatcher's attempt limit (ProviderCall.Timeout) caps timeout_ms (10 minutes here):
        // the adapter ends the call there itself, and the upstream request is aborted.
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.Handler = async ctx =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                aborted.TrySetResult();
            }
        };
        var sut = CreateSut();
        Assert.True(((IProviderAdapter)sut).EnforcesTimeout);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<ProviderException>(() => sut.CompleteAsync(Call(Calls.Hello(), new() { ["timeout_ms"] = "600000" }) with { Timeout = TimeSpan.FromMilliseconds(300) }, default));

        Assert.Equal(ProviderErrorKind.Timeout, error.Kind);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Stream_NonSseAnswerWhoseBodyNeverEnds_TimeoutNotCancellation()
    {
        // A proxy answers the streaming request with JSON headers and then stalls: the adapter's
        // own timer fires while it reads that body, which is a timeout, not the caller cancelling.
        _upstream.Handler = async ctx =>
        {
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync("{\"error\":", ctx.RequestAborted);
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        };
        var (_, error) = await Calls.CollectUntilError(CreateSut().StreamAsync(Call(Calls.Hello(), new() { ["timeout_ms"] = "300" }), default));
        Assert.Equal(ProviderErrorKind.Timeout, error.Kind);
    }

    [Fact]
    public async Task Stream_UpstreamGoesSilent_TimeoutAfterIdleLimit()
    {
        _upstream.Handler = async ctx =>
        {
            await FakeUpstream.Sse(ctx, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n");
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        };
        var (chunks, error) = await Calls.CollectUntilError(CreateSut().StreamAsync(Call(Calls.Hello(), new() { ["stream_idle_timeout_ms"] = "200" }), default));
        Assert.Equal(ProviderErrorKind.Timeout, error.Kind);
        Assert.Equal("Hi", Calls.Text(chunks));
    }

    [Fact]
    public async Task ExtraHeaderWithSecretReference_ResolvedPerCall()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, UnaryToolBody);
        _secrets.Values["env:HELICONE"] = "first";
        var call = Call(Calls.Hello(), new() { ["headers.Helicone-Auth"] = "env:HELICONE" });
        var sut = CreateSut();
        await sut.CompleteAsync(call, default);
        Assert.Equal("first", _upstream.LastHeaders!["Helicone-Auth"].ToString());
        _secrets.Values["env:HELICONE"] = "rotated";
        await sut.CompleteAsync(call, default);
        Assert.Equal("rotated", _upstream.LastHeaders!["Helicone-Auth"].ToString());
    }

    [Fact]
    public async Task Stream_CallerCancels_UpstreamRequestAborted()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.Handler = async ctx =>
        {
            ctx.RequestAborted.Register(() => aborted.TrySetResult());
            await FakeUpstream.Sse(ctx, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n");
            try
            {
                await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
        };
        using var cts = new CancellationTokenSource();
        var enumerator = CreateSut().StreamAsync(Call(Calls.Hello()), cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await enumerator.MoveNextAsync());
        Assert.Equal("Hi", enumerator.Current.Delta.Text);
        var pending = enumerator.MoveNextAsync().AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
        await enumerator.DisposeAsync();
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task MissingSecret_AuthFailureNamingReference()
    {
        var call = new ProviderCall(Calls.Hello(), Calls.Deployment("openai", "m", new() { ["base_url"] = _upstream.BaseUrl + "/v1", ["api_key"] = "env:OPENAI_KEY_ABSENT" }));
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(call, default));
        Assert.Equal(ProviderErrorKind.AuthFailure, error.Kind);
        Assert.Contains("secret env:OPENAI_KEY_ABSENT is not set", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _upstream.Requests);
    }

    [Fact]
    public async Task Compatible_StreamWithoutUsage_EstimatedUsageAndNoAuthHeader()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx,
            "data: {\"id\":\"cmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"llama3\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello world from\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"cmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"llama3\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" vllm\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n");
        var request = Calls.Hello();
        request.MaxTokens = 64;
        var call = new ProviderCall(request, Calls.Deployment("openai-compatible", "llama3", new() { ["base_url"] = _upstream.BaseUrl + "/v1" }));
        var chunks = await Calls.Collect(CreateSut(OpenAIFlavor.Compatible).StreamAsync(call, default));
        Assert.False(_upstream.LastHeaders!.ContainsKey("Authorization"));
        Assert.Equal(64, _upstream.LastBody.GetProperty("max_tokens").GetInt32());
        var usage = chunks[^2].Usage;
        Assert.True(usage.Estimated);
        Assert.Equal(6, usage.OutputTokens); // Hello(2) world(2) from(1) vllm(1)
        Assert.Equal(TokenEstimator.CountPrompt(request), usage.InputTokens);
        Assert.Equal(FinishReason.Stop, chunks[^1].Finish.Reason);
    }

    [Fact]
    public async Task Compatible_StreamUsageOff_NoStreamOptionsSent()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx, "data: [DONE]\n\n");
        var call = new ProviderCall(Calls.Hello(), Calls.Deployment("openai-compatible", "m", new() { ["base_url"] = _upstream.BaseUrl + "/v1", ["stream_usage"] = "false" }));
        await Calls.Collect(CreateSut(OpenAIFlavor.Compatible).StreamAsync(call, default));
        Assert.False(_upstream.LastBody.TryGetProperty("stream_options", out _));
    }

    [Fact]
    public async Task Azure_UrlApiKeyAndContentFilterError()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, """
            {"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}}}
            """, 400);
        var call = new ProviderCall(Calls.Hello(), Calls.Deployment("azure-openai", "gpt-4o", new() { ["base_url"] = _upstream.BaseUrl, ["api_key"] = "env:TEST_KEY", ["deployment"] = "my-gpt4o" }));
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut(OpenAIFlavor.Azure).CompleteAsync(call, default));
        Assert.Equal(ProviderErrorKind.ContentFiltered, error.Kind);
        Assert.Equal("/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21", _upstream.LastPathAndQuery);
        Assert.Equal("sk-test-123", _upstream.LastHeaders!["api-key"].ToString());
        Assert.False(_upstream.LastHeaders.ContainsKey("Authorization"));
        Assert.False(_upstream.LastBody.TryGetProperty("model", out _));
    }

    [Fact]
    public async Task Azure_ContentFilterFinishReason_FinishContentFilter()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx,
            "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":{\"filtered\":false,\"severity\":\"safe\"}}}]}\n\n",
            "data: {\"choices\":[{\"content_filter_results\":{},\"delta\":{\"content\":\"Partial\"},\"finish_reason\":null,\"index\":0}],\"created\":1,\"id\":\"chatcmpl-x\",\"model\":\"gpt-4o\",\"object\":\"chat.completion.chunk\"}\n\n",
            "data: {\"choices\":[{\"content_filter_results\":{\"violence\":{\"filtered\":true,\"severity\":\"medium\"}},\"delta\":{},\"finish_reason\":\"content_filter\",\"index\":0}],\"created\":1,\"id\":\"chatcmpl-x\",\"model\":\"gpt-4o\",\"object\":\"chat.completion.chunk\"}\n\n",
            "data: {\"choices\":[],\"created\":1,\"id\":\"chatcmpl-x\",\"model\":\"gpt-4o\",\"object\":\"chat.completion.chunk\",\"usage\":{\"completion_tokens\":1,\"prompt_tokens\":5,\"total_tokens\":6}}\n\n",
            "data: [DONE]\n\n");
        var call = new ProviderCall(Calls.Hello(), Calls.Deployment("azure-openai", "gpt-4o", new() { ["base_url"] = _upstream.BaseUrl, ["api_key"] = "env:TEST_KEY", ["api_version"] = "2024-06-01" }));
        var chunks = await Calls.Collect(CreateSut(OpenAIFlavor.Azure).StreamAsync(call, default));
        Assert.Equal("/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01", _upstream.LastPathAndQuery);
        Assert.Equal("Partial", Calls.Text(chunks));
        Assert.Equal(FinishReason.ContentFilter, chunks[^1].Finish.Reason);
        Assert.Equal(5, chunks[^2].Usage.InputTokens);
    }

    [Fact]
    public async Task Embeddings_RequestAndVectorsInIndexOrder()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, """
            {"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.5,-0.25]},{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}
            """);
        var call = new EmbeddingsCall(new EmbeddingsRequest(["first", "second"]) { Dimensions = 2, User = "u1" }, Calls.Deployment("openai", "text-embedding-3-small", new() { ["base_url"] = _upstream.BaseUrl + "/v1", ["api_key"] = "env:TEST_KEY" }));
        var response = await CreateSut().EmbedAsync(call, default);
        Assert.Equal("/v1/embeddings", _upstream.LastPathAndQuery);
        Assert.Equal("float", _upstream.LastBody.GetProperty("encoding_format").GetString());
        Assert.Equal(2, _upstream.LastBody.GetProperty("dimensions").GetInt32());
        Assert.Equal("second", _upstream.LastBody.GetProperty("input")[1].GetString());
        Assert.Equal([0.5f, -0.25f], response.Embeddings[1]);
        Assert.Equal(0.0023064255f, response.Embeddings[0][0]);
        Assert.Equal((8, false), (response.InputTokens, response.Estimated));
    }
}
