using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Grpc.Rest.Tests.Infrastructure;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>Errors in OpenAI's shape with the right HTTP status, from bad input and from the pipeline.</summary>
[Collection(GatewayCollection.Name)]
public sealed class ErrorShapeTests(GatewayFixture gateway)
{
    private async Task<(HttpResponseMessage Response, JsonElement Error)> PostAsync(string body, string path = "/v1/chat/completions", Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        configure?.Invoke(request);
        var response = await gateway.Http.SendAsync(request);
        var json = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var root = JsonDocument.Parse(json).RootElement;
        return (response, root.TryGetProperty("error", out var error) ? error : default);
    }

    private static void AssertShape(JsonElement error)
    {
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _));
        Assert.True(error.TryGetProperty("code", out _));
    }

    [Fact]
    public async Task MalformedJson_400SaysWhereTheJsonBreaks()
    {
        var (response, error) = await PostAsync("{\"model\": \"sim-small\", \"messages\": [");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        AssertShape(error);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal("invalid_json", error.GetProperty("code").GetString());
        Assert.Contains("BytePositionInLine", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"model":"sim-small","messages":"hi"}""", "messages", "expected an array of messages, got a string")]
    [InlineData("""{"model":"sim-small","messages":[{"role":"user","content":7}]}""", "messages[0].content", "got the number 7")]
    [InlineData("""{"model":"sim-small","messages":[{"role":"robot","content":"x"}]}""", "messages[0].role", "'robot' is not a role")]
    [InlineData("""{"model":"sim-small","messages":[{"role":"user","content":"x"}],"max_tokens":"ten"}""", "max_tokens", "expected an integer, got a string")]
    [InlineData("""{"model":"sim-small","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}""", "max_tokens", "expected an integer")]
    [InlineData("""{"model":"sim-small","messages":[{"role":"user","content":"x"}],"temperature":"hot"}""", "temperature", "expected a number")]
    [InlineData("""{"model":42,"messages":[]}""", "model", "expected a string")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]}""", "model", "is required")]
    [InlineData("""{"model":"sim-small","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}""", "tools[0].function.parameters", "expected a JSON object")]
    [InlineData("""{"model":"sim-small","messages":[{"role":"user","content":"x"}],"stream":"yes"}""", "stream", "expected a boolean")]
    [InlineData("""{"model":"sim-small","messages":[{"role":"user","content":"x"}],"n":3}""", "n", "only 1 choice")]
    [InlineData("""{"model":"sim-small","messages":[{"role":"tool","content":"x"}]}""", "messages[0].tool_call_id", "is required")]
    [InlineData("""{"model":"sim-small","messages":[{"role":"user","content":"x"}],"top_p":3}""", "top_p", "between 0 and 1")]
    public async Task WrongField_400NamesTheField(string body, string param, string message)
    {
        var (response, error) = await PostAsync(body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        AssertShape(error);
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Contains(message, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.StartsWith(param + ":", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownModel_404ModelNotFound()
    {
        var (response, error) = await PostAsync("""{"model":"gpt-unknown","messages":[{"role":"user","content":"x"}]}""");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Contains("sim-small", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeadlineBeforeAnyOutput_504()
    {
        var (response, error) = await PostAsync(
            """{"model":"sim-small","messages":[{"role":"user","content":"x"}],"metadata":{"sim.ttft_ms":"5000"}}""",
            configure: r => r.Headers.Add("x-request-timeout", "0.2"));
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("timeout", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task BadTimeoutHeader_400NamesTheHeader()
    {
        var (response, error) = await PostAsync(
            """{"model":"sim-small","messages":[{"role":"user","content":"x"}]}""",
            configure: r => r.Headers.Add("x-request-timeout", "soon"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("x-request-timeout", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestId_CallerValueEchoedAndUsedAsId()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"sim-small","max_tokens":2,"messages":[{"role":"user","content":"x"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-request-id", "trace-abc-123");
        using var response = await gateway.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("trace-abc-123", response.Headers.GetValues("x-request-id").Single());
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("trace-abc-123", body.GetProperty("id").GetString());
    }

    [Fact]
    public async Task RequestId_MadeWhenAbsent_AlsoOnErrors()
    {
        var (response, _) = await PostAsync("not json");
        var id = response.Headers.GetValues("x-request-id").Single();
        Assert.StartsWith("cmpl-", id, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongMethod_405WithAllow()
    {
        using var response = await gateway.Http.GetAsync("/v1/chat/completions");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("POST", string.Join(",", response.Content.Headers.Allow));
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("method_not_allowed", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task UnknownPath_404InOpenAiShape()
    {
        using var response = await gateway.Http.GetAsync("/v1/assistants");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        AssertShape(error);
        Assert.Contains("/v1/assistants", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embeddings_NoAdapterSupportsThem_404Explains()
    {
        var (response, error) = await PostAsync("""{"model":"sim-small","input":"hello"}""", "/v1/embeddings");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("embeddings_not_supported", error.GetProperty("code").GetString());
    }
}

/// <summary>Upstream failures through the real pipeline: each gRPC status becomes its HTTP status.</summary>
[Collection(FailingGatewayCollection.Name)]
public sealed class PipelineErrorTests(FailingGatewayFixture gateway)
{
    private async Task<(HttpResponseMessage Response, string Body)> FailAsync(string kind, string extraMetadata = "", bool stream = false)
    {
        var body = "{\"model\":\"sim-small\",\"stream\":" + (stream ? "true" : "false")
            + ",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"metadata\":{\"fail.kind\":\"" + kind + "\"" + extraMetadata + "}}";
        var response = await gateway.Http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        return (response, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("rate_limited", 429, "rate_limit_error")]
    [InlineData("overloaded", 503, "server_error")]
    [InlineData("server_error", 503, "server_error")]
    [InlineData("timeout", 504, "timeout_error")]
    [InlineData("bad_request", 400, "invalid_request_error")]
    [InlineData("context_length_exceeded", 400, "invalid_request_error")]
    [InlineData("auth_failure", 500, "server_error")]
    [InlineData("model_not_found", 404, "invalid_request_error")]
    public async Task UpstreamFailure_MapsToHttpStatus(string kind, int status, string type)
    {
        var (response, body) = await FailAsync(kind);
        Assert.Equal(status, (int)response.StatusCode);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.Equal(kind, error.GetProperty("code").GetString());
        Assert.Contains("scripted " + kind, error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RateLimited_RetryAfterFromUpstreamHint()
    {
        var (response, _) = await FailAsync("rate_limited", ",\"fail.retry_after_ms\":\"2500\"");
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(3), response.Headers.RetryAfter?.Delta);
        Assert.Equal("2500", response.Headers.GetValues("retry-after-ms").Single());
    }

    [Fact]
    public async Task RateLimited_WithoutHint_StillSendsRetryAfter()
    {
        var (response, _) = await FailAsync("rate_limited");
        Assert.Equal(TimeSpan.FromSeconds(1), response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task HandlerBug_500WithoutExceptionDetails()
    {
        var (response, body) = await FailAsync("crash");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.DoesNotContain(ScriptedFailureProvider.CrashSecret, body, StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidOperationException", body, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", body, StringComparison.Ordinal);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.Contains(response.Headers.GetValues("x-request-id").Single(), error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamFailsAfterOutput_ErrorEventWithKindAndNoDone()
    {
        var (response, body) = await FailAsync("server_error", ",\"fail.after_deltas\":\"3\"", stream: true);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("[DONE]", body, StringComparison.Ordinal);
        var events = body.TrimEnd('\n').Split("\n\n");
        Assert.Equal(5, events.Length); // role chunk, 3 deltas, the error
        var error = JsonDocument.Parse(events[^1]["data: ".Length..]).RootElement.GetProperty("error");
        Assert.Equal("server_error", error.GetProperty("code").GetString());
        Assert.Contains("scripted server_error", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamFailsBeforeOutput_HttpStatusNotSse()
    {
        var (response, body) = await FailAsync("rate_limited", stream: true);
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.StartsWith("{\"error\":", body, StringComparison.Ordinal);
    }
}
