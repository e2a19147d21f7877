using Gateway.Grpc.Adapters.Gemini;
using Gateway.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Grpc.Adapters.Tests;

public sealed class GeminiAdapterTests : IAsyncLifetime
{
    private FakeUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await FakeUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private static GeminiAdapter CreateSut() => new(new DictionarySecrets(), TimeProvider.System, NullLogger<GeminiAdapter>.Instance);

    private DeploymentInfo Deployment(string? schemaMode = null)
    {
        var settings = new Dictionary<string, string> { ["base_url"] = _upstream.BaseUrl, ["api_key"] = "env:TEST_KEY" };
        if (schemaMode is not null)
        {
            settings["schema_mode"] = schemaMode;
        }

        return Calls.Deployment("gemini", "gemini-2.5-flash", settings);
    }

    private static Struct Schema() => new()
    {
        Fields =
        {
            ["type"] = Value.ForString("object"),
            ["additionalProperties"] = Value.ForBool(false),
            ["$schema"] = Value.ForString("http://json-schema.org/draft-07/schema#"),
            ["properties"] = Value.ForStruct(new Struct
            {
                Fields =
                {
                    ["city"] = Value.ForStruct(new Struct { Fields = { ["type"] = Value.ForList(Value.ForString("string"), Value.ForString("null")), ["description"] = Value.ForString("City") } }),
                    ["tags"] = Value.ForStruct(new Struct { Fields = { ["type"] = Value.ForString("array"), ["items"] = Value.ForStruct(new Struct { Fields = { ["type"] = Value.ForString("string"), ["additionalProperties"] = Value.ForBool(false) } }) } }),
                },
            }),
            ["required"] = Value.ForList(Value.ForString("city")),
        },
    };

    [Fact]
    public async Task Complete_RequestShapeAndFunctionCallResponse()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, """
            {
              "candidates": [
                {
                  "content": {
                    "parts": [
                      { "text": "Let me look.", "thought": true },
                      { "functionCall": { "name": "get_weather", "args": { "city": "Paris" } } }
                    ],
                    "role": "model"
                  },
                  "finishReason": "STOP",
                  "index": 0
                }
              ],
              "usageMetadata": { "promptTokenCount": 120, "candidatesTokenCount": 15, "totalTokenCount": 175, "cachedContentTokenCount": 64, "thoughtsTokenCount": 40 },
              "modelVersion": "gemini-2.5-flash",
              "responseId": "mFZvaOvnBNKwqtsP0bCsqA4"
            }
            """);
        var request = new CompletionRequest
        {
            MaxTokens = 100,
            Temperature = 0.3,
            TopP = 0.8,
            Seed = 7,
            Stop = { "STOP!" },
            Messages =
            {
                new Message { Role = Role.System, Content = "Be helpful." },
                new Message { Role = Role.User, Content = "Weather in Oslo?" },
                new Message { Role = Role.Assistant, ToolCalls = { new ToolCall { Id = "call_1", Name = "get_weather", ArgumentsJson = "{\"city\":\"Oslo\"}" } } },
                new Message { Role = Role.Tool, ToolCallId = "call_1", Content = "3 degrees" },
                new Message { Role = Role.User, Content = "And Paris?" },
            },
            Tools = { new Tool { Name = "get_weather", Description = "Weather", Parameters = Schema() } },
            ToolChoice = new ToolChoice { FunctionName = "get_weather" },
        };
        var response = await CreateSut().CompleteAsync(new ProviderCall(request, Deployment()), default);

        Assert.Equal("/v1beta/models/gemini-2.5-flash:generateContent", _upstream.LastPathAndQuery);
        Assert.Equal("sk-test-123", _upstream.LastHeaders!["x-goog-api-key"].ToString());
        var body = _upstream.LastBody;
        Assert.Equal("Be helpful.", body.GetProperty("systemInstruction").GetProperty("parts")[0].GetProperty("text").GetString());
        var contents = body.GetProperty("contents");
        Assert.Equal(["user", "model", "user"], contents.EnumerateArray().Select(c => c.GetProperty("role").GetString()!));
        Assert.Equal("Oslo", contents[1].GetProperty("parts")[0].GetProperty("functionCall").GetProperty("args").GetProperty("city").GetString());
        var functionResponse = contents[2].GetProperty("parts")[0].GetProperty("functionResponse");
        Assert.Equal("get_weather", functionResponse.GetProperty("name").GetString());
        Assert.Equal("3 degrees", functionResponse.GetProperty("response").GetProperty("result").GetString());
        Assert.Equal("And Paris?", contents[2].GetProperty("parts")[1].GetProperty("text").GetString());
        var declaration = body.GetProperty("tools")[0].GetProperty("functionDeclarations")[0];
        var parameters = declaration.GetProperty("parameters");
        Assert.False(parameters.TryGetProperty("additionalProperties", out _));
        Assert.False(parameters.TryGetProperty("$schema", out _));
        var city = parameters.GetProperty("properties").GetProperty("city");
        Assert.Equal(("string", true), (city.GetProperty("type").GetString(), city.GetProperty("nullable").GetBoolean()));
        Assert.False(parameters.GetProperty("properties").GetProperty("tags").GetProperty("items").TryGetProperty("additionalProperties", out _));
        var config = body.GetProperty("toolConfig").GetProperty("functionCallingConfig");
        Assert.Equal(("ANY", "get_weather"), (config.GetProperty("mode").GetString(), config.GetProperty("allowedFunctionNames")[0].GetString()));
        var generation = body.GetProperty("generationConfig");
        Assert.Equal(100, generation.GetProperty("maxOutputTokens").GetInt32());
        Assert.Equal(0.8, generation.GetProperty("topP").GetDouble());
        Assert.Equal(7, generation.GetProperty("seed").GetInt32());
        Assert.Equal("STOP!", generation.GetProperty("stopSequences")[0].GetString());

        Assert.Equal(FinishReason.ToolCalls, response.FinishReason);
        Assert.Equal("", response.Message.Content);
        var call = Assert.Single(response.Message.ToolCalls);
        Assert.Equal("get_weather", call.Name);
        Assert.StartsWith("call_", call.Id, StringComparison.Ordinal);
        Assert.Equal("Paris", System.Text.Json.JsonDocument.Parse(call.ArgumentsJson).RootElement.GetProperty("city").GetString());
        Assert.Equal((120, 64, 55, 40), (response.Usage.InputTokens, response.Usage.CachedInputTokens, response.Usage.OutputTokens, response.Usage.ReasoningTokens));
    }

    [Fact]
    public async Task Complete_JsonSchemaModes_SchemaFieldChosen()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"{\\\"city\\\":\\\"Paris\\\"}\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":6,\"totalTokenCount\":11}}");
        var request = Calls.Hello();
        request.ResponseFormat = new ResponseFormat { Type = ResponseFormatType.JsonSchema, JsonSchema = new JsonSchema { Name = "x", Schema = Schema() } };
        var response = await CreateSut().CompleteAsync(new ProviderCall(request, Deployment()), default);
        var generation = _upstream.LastBody.GetProperty("generationConfig");
        Assert.Equal("application/json", generation.GetProperty("responseMimeType").GetString());
        Assert.False(generation.GetProperty("responseSchema").TryGetProperty("additionalProperties", out _));
        Assert.Equal("{\"city\":\"Paris\"}", response.Message.Content);

        await CreateSut().CompleteAsync(new ProviderCall(request, Deployment("json_schema")), default);
        generation = _upstream.LastBody.GetProperty("generationConfig");
        Assert.False(generation.TryGetProperty("responseSchema", out _));
        Assert.False(generation.GetProperty("responseJsonSchema").GetProperty("additionalProperties").GetBoolean());
    }

    [Fact]
    public async Task Stream_ChunksThenFinalWithFinishReason_FinishLast()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx,
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 1,\"totalTokenCount\": 10},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}\r\n\r\n",
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" sky is blue\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 4,\"totalTokenCount\": 13},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}\r\n\r\n",
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \".\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 5,\"totalTokenCount\": 14,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 9}]},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}\r\n\r\n");
        var chunks = await Calls.Collect(CreateSut().StreamAsync(new ProviderCall(Calls.Hello(), Deployment()), default));
        Assert.Equal("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", _upstream.LastPathAndQuery);
        Assert.Equal("The sky is blue.", Calls.Text(chunks));
        Assert.Equal((9, 5), (chunks[^2].Usage.InputTokens, chunks[^2].Usage.OutputTokens));
        Assert.Equal(FinishReason.Stop, chunks[^1].Finish.Reason);
    }

    [Fact]
    public async Task Stream_EndsWithoutFinishReason_StreamInterrupted()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx,
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The\"}],\"role\": \"model\"},\"index\": 0}]}\r\n\r\n");
        var (chunks, error) = await Calls.CollectUntilError(CreateSut().StreamAsync(new ProviderCall(Calls.Hello(), Deployment()), default));
        Assert.Equal(ProviderErrorKind.StreamInterrupted, error.Kind);
        Assert.Equal("The", Calls.Text(chunks));
        Assert.DoesNotContain(chunks, c => c.EventCase == CompletionChunk.EventOneofCase.Finish);
    }

    [Fact]
    public async Task Stream_FunctionCallAndSafetyFinish()
    {
        _upstream.Handler = ctx => FakeUpstream.Sse(ctx,
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"lookup\",\"args\": {\"q\": \"x\"}}}],\"role\": \"model\"},\"index\": 0}]}\n\n",
            "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"SAFETY\",\"index\": 0,\"safetyRatings\": [{\"category\": \"HARM_CATEGORY_DANGEROUS_CONTENT\",\"probability\": \"HIGH\",\"blocked\": true}]}],\"usageMetadata\": {\"promptTokenCount\": 3,\"candidatesTokenCount\": 2,\"totalTokenCount\": 5}}\n\n");
        var chunks = await Calls.Collect(CreateSut().StreamAsync(new ProviderCall(Calls.Hello(), Deployment()), default));
        var tool = Assert.Single(chunks, c => c.EventCase == CompletionChunk.EventOneofCase.ToolCallDelta).ToolCallDelta;
        Assert.Equal((0, "lookup", "{\"q\": \"x\"}"), (tool.Index, tool.Name, tool.ArgumentsDelta));
        Assert.Equal(FinishReason.ContentFilter, chunks[^1].Finish.Reason);
    }

    [Fact]
    public async Task Complete_PromptBlocked_ContentFiltered()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, "{\"promptFeedback\": {\"blockReason\": \"SAFETY\",\"safetyRatings\": []},\"usageMetadata\": {\"promptTokenCount\": 8,\"totalTokenCount\": 8}}");
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(new ProviderCall(Calls.Hello(), Deployment()), default));
        Assert.Equal(ProviderErrorKind.ContentFiltered, error.Kind);
    }

    [Theory]
    [InlineData(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.", ProviderErrorKind.RateLimited)]
    [InlineData(400, "INVALID_ARGUMENT", "The input token count (1250000) exceeds the maximum number of tokens allowed (1048576).", ProviderErrorKind.ContextLengthExceeded)]
    [InlineData(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", ProviderErrorKind.AuthFailure)]
    [InlineData(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unknown name \"foo\": Cannot find field.", ProviderErrorKind.BadRequest)]
    [InlineData(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.", ProviderErrorKind.AuthFailure)]
    [InlineData(404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta, or is not supported for generateContent.", ProviderErrorKind.ModelNotFound)]
    [InlineData(500, "INTERNAL", "An internal error has occurred.", ProviderErrorKind.ServerError)]
    [InlineData(503, "UNAVAILABLE", "The model is overloaded. Please try again later.", ProviderErrorKind.Overloaded)]
    [InlineData(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.", ProviderErrorKind.Timeout)]
    public async Task Complete_GoogleErrors_Classified(int status, string code, string message, ProviderErrorKind expected)
    {
        var details = status == 429
            ? ",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{\"quotaMetric\":\"generativelanguage.googleapis.com/generate_content_free_tier_requests\"}]},{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"37s\"}]"
            : "";
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, $"{{\"error\":{{\"code\":{status},\"message\":\"{message.Replace("\"", "\\\"", StringComparison.Ordinal)}\",\"status\":\"{code}\"{details}}}}}", status);
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(new ProviderCall(Calls.Hello(), Deployment()), default));
        Assert.Equal(expected, error.Kind);
        Assert.Equal(status == 429 ? TimeSpan.FromSeconds(37) : null, error.RetryAfter);
    }

    [Fact]
    public async Task Embeddings_SingleAndBatch()
    {
        _upstream.Handler = ctx => FakeUpstream.Json(ctx, "{\"embedding\": {\"values\": [0.013168523, -0.008711934, -0.046782676]}}");
        var single = await CreateSut().EmbedAsync(new EmbeddingsCall(new EmbeddingsRequest(["What is the meaning of life?"]) { TaskType = "RETRIEVAL_QUERY", Dimensions = 3 }, Calls.Deployment("gemini", "gemini-embedding-001", new() { ["base_url"] = _upstream.BaseUrl, ["api_key"] = "env:TEST_KEY" })), default);
        Assert.Equal("/v1beta/models/gemini-embedding-001:embedContent", _upstream.LastPathAndQuery);
        Assert.Equal("models/gemini-embedding-001", _upstream.LastBody.GetProperty("model").GetString());
        Assert.Equal("RETRIEVAL_QUERY", _upstream.LastBody.GetProperty("taskType").GetString());
        Assert.Equal(3, _upstream.LastBody.GetProperty("outputDimensionality").GetInt32());
        Assert.Equal(3, single.Embeddings[0].Length);
        Assert.True(single.Estimated);

        _upstream.Handler = ctx => FakeUpstream.Json(ctx, "{\"embeddings\": [{\"values\": [0.1, 0.2]}, {\"values\": [0.3, 0.4]}]}");
        var batch = await CreateSut().EmbedAsync(new EmbeddingsCall(new EmbeddingsRequest(["a", "b"]), Calls.Deployment("gemini", "text-embedding-004", new() { ["base_url"] = _upstream.BaseUrl, ["api_key"] = "env:TEST_KEY" })), default);
        Assert.Equal("/v1beta/models/text-embedding-004:batchEmbedContents", _upstream.LastPathAndQuery);
        Assert.Equal("b", _upstream.LastBody.GetProperty("requests")[1].GetProperty("content").GetProperty("parts")[0].GetProperty("text").GetString());
        Assert.Equal([0.3f, 0.4f], batch.Embeddings[1]);
    }

    [Fact]
    public async Task ToolResultWithoutMatchingCall_BadRequestBeforeSending()
    {
        var request = Calls.Hello();
        request.Messages.Add(new Message { Role = Role.Tool, ToolCallId = "call_unknown", Content = "x" });
        var error = await Assert.ThrowsAsync<ProviderException>(() => CreateSut().CompleteAsync(new ProviderCall(request, Deployment()), default));
        Assert.Equal(ProviderErrorKind.BadRequest, error.Kind);
        Assert.Equal(0, _upstream.Requests);
    }
}
