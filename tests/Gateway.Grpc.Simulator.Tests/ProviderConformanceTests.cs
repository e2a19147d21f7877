using System.Net;
using System.Text.Json;

namespace Gateway.Grpc.Simulator.Tests;

/// <summary>Request validation and response shapes the SDK scripts do not reach.</summary>
[Collection("Simulator")]
public sealed class ProviderConformanceTests : IDisposable
{
    private readonly SimulatorFixture _sim;

    public ProviderConformanceTests(SimulatorFixture sim)
    {
        _sim = sim;
        _sim.Reset();
    }

    public void Dispose() => _sim.Reset();

    [Fact]
    public async Task OpenAi_MissingBearer_401OpenAiShape()
    {
        var request = Requests.OpenAiChat();
        request.Headers.Authorization = null;
        using var response = await _sim.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var error = (await response.JsonAsync()).GetProperty("error");
        Assert.StartsWith("You didn't provide an API key", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        Assert.Equal(JsonValueKind.Null, error.GetProperty("code").ValueKind);
    }

    [Fact]
    public async Task OpenAi_MissingMessages_400NamesTheParameter()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Requests.Json("""{"model":"gpt-4o-mini"}""") };
        request.Headers.Add("authorization", "Bearer k");
        using var response = await _sim.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.JsonAsync()).GetProperty("error");
        Assert.Equal("messages", error.GetProperty("param").GetString());
        Assert.Equal("missing_required_parameter", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task OpenAi_InvalidJson_400()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Requests.Json("{\"model\":") };
        request.Headers.Add("authorization", "Bearer k");
        using var response = await _sim.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("could not parse the JSON body", (await response.JsonAsync()).GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenAi_StopSequence_CutsBeforeIt()
    {
        using var full = await _sim.Http.SendAsync(Requests.OpenAiChat(prompt: "stop test"));
        var text = (await full.JsonAsync()).GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        var stop = text.Split(' ')[2];

        using var cut = await _sim.Http.SendAsync(Requests.OpenAiChat(prompt: "stop test", extra: $"\"stop\":[{JsonSerializer.Serialize(stop)}]"));
        var choice = (await cut.JsonAsync()).GetProperty("choices")[0];
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        var content = choice.GetProperty("message").GetProperty("content").GetString()!;
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], content);
    }

    [Fact]
    public async Task Anthropic_MissingVersionHeader_400()
    {
        var request = Requests.Anthropic();
        request.Headers.Remove("anthropic-version");
        using var response = await _sim.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("anthropic-version: header is required", (await response.JsonAsync()).GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Anthropic_MissingKey_401AuthenticationError()
    {
        var request = Requests.Anthropic();
        request.Headers.Remove("x-api-key");
        using var response = await _sim.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("authentication_error", (await response.JsonAsync()).GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public async Task Anthropic_MissingMaxTokens_400()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = Requests.Json("""{"model":"m","messages":[{"role":"user","content":"hi"}]}""") };
        request.Headers.Add("x-api-key", "k");
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var response = await _sim.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("max_tokens: Field required", (await response.JsonAsync()).GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Gemini_KeyInQueryAccepted_MissingKey403()
    {
        using var withQuery = await _sim.Http.PostAsync("/v1beta/models/gemini-2.5-flash:generateContent?key=k", Requests.Json("""{"contents":[{"parts":[{"text":"hi"}]}]}"""));
        using var without = await _sim.Http.PostAsync("/v1beta/models/gemini-2.5-flash:generateContent", Requests.Json("""{"contents":[{"parts":[{"text":"hi"}]}]}"""));

        Assert.Equal(HttpStatusCode.OK, withQuery.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, without.StatusCode);
        Assert.Equal("PERMISSION_DENIED", (await without.JsonAsync()).GetProperty("error").GetProperty("status").GetString());
    }

    [Fact]
    public async Task Gemini_StreamWithoutAltSse_IsOneJsonArray()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1beta/models/gemini-2.5-flash:streamGenerateContent") { Content = Requests.Json("""{"contents":[{"parts":[{"text":"hi"}]}]}""") };
        request.Headers.Add("x-goog-api-key", "k");
        using var response = await _sim.Http.SendAsync(request);

        var array = await response.JsonAsync();
        Assert.Equal(JsonValueKind.Array, array.ValueKind);
        Assert.Equal("STOP", array[array.GetArrayLength() - 1].GetProperty("candidates")[0].GetProperty("finishReason").GetString());
    }

    [Fact]
    public async Task Gemini_UnknownMethod_404()
    {
        using var response = await _sim.Http.PostAsync("/v1beta/models/gemini-2.5-flash:teleport", Requests.Json("{}"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Azure_MissingApiVersion_404ResourceNotFound()
    {
        using var response = await _sim.Http.SendAsync(Requests.Azure(apiVersion: null));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = (await response.JsonAsync()).GetProperty("error");
        Assert.Equal("404", error.GetProperty("code").GetString());
        Assert.Equal("Resource not found", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Azure_MissingKey_401()
    {
        var request = Requests.Azure();
        request.Headers.Remove("api-key");
        using var response = await _sim.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("401", (await response.JsonAsync()).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Azure_DeploymentIsTheRecordedModel()
    {
        using var response = await _sim.Http.SendAsync(Requests.Azure("my-deployment"));
        var body = await response.JsonAsync();

        Assert.Equal("my-deployment", body.GetProperty("model").GetString());
        Assert.Equal("my-deployment", (await _sim.State.WaitForEndAsync(response.SimRequestId())).Model);
    }

    [Fact]
    public async Task UnknownRoute_404InvalidUrl()
    {
        using var response = await _sim.Http.PostAsync("/v1/nope", Requests.Json("{}"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("Invalid URL (POST /v1/nope)", (await response.JsonAsync()).GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task ModelList_DialectFollowsTheCredentials()
    {
        var openAi = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        openAi.Headers.Add("authorization", "Bearer k");
        var anthropic = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        anthropic.Headers.Add("x-api-key", "k");
        anthropic.Headers.Add("anthropic-version", "2023-06-01");
        using var openAiResponse = await _sim.Http.SendAsync(openAi);
        using var anthropicResponse = await _sim.Http.SendAsync(anthropic);

        Assert.Equal("list", (await openAiResponse.JsonAsync()).GetProperty("object").GetString());
        Assert.False((await anthropicResponse.JsonAsync()).GetProperty("has_more").GetBoolean());
    }
}
