using System.Net;
using System.Text.Json;

namespace Gateway.Grpc.Simulator.Tests;

[Collection("Simulator")]
public sealed class AdminApiTests : IDisposable
{
    private readonly SimulatorFixture _sim;

    public AdminApiTests(SimulatorFixture sim)
    {
        _sim = sim;
        _sim.Reset();
    }

    public void Dispose() => _sim.Reset();

    [Fact]
    public async Task PostFaults_ConsumedInOrderByMatchingRequests()
    {
        using var post = await _sim.Http.PostAsync("/_sim/faults", Requests.Json("""[{"model":"model-a","status":503,"count":2},{"status":429,"retryAfterMs":2000}]"""));
        Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        Assert.Equal(2, (await post.JsonAsync()).GetProperty("queued").GetInt32());

        // model-b skips the model-a entry and takes the catch-all one.
        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusAsync(Requests.OpenAiChat("model-b")));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await StatusAsync(Requests.OpenAiChat("model-a")));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, await StatusAsync(Requests.Anthropic("model-a")));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(Requests.OpenAiChat("model-a")));

        using var pending = await _sim.Http.GetAsync("/_sim/faults");
        Assert.Equal(0, (await pending.JsonAsync()).GetArrayLength());
    }

    [Fact]
    public async Task PostFaults_ApiFilterAndStreamFaults()
    {
        using var post = await _sim.Http.PostAsync("/_sim/faults", Requests.Json("""{"api":"anthropic","disconnectAfter":1}"""));
        post.EnsureSuccessStatusCode();

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(Requests.OpenAiChat()));
        using var response = await _sim.Http.SendAsync(Requests.Anthropic(stream: true), HttpCompletionOption.ResponseHeadersRead);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => response.Content.ReadAsStringAsync());
        Assert.True((await _sim.State.WaitForEndAsync(response.SimRequestId())).Disconnected);
    }

    [Fact]
    public async Task HeaderOverridesScriptedFault()
    {
        _sim.State.EnqueueFault(new FaultScript { Status = 500 });

        Assert.Equal(HttpStatusCode.BadRequest, await StatusAsync(Requests.OpenAiChat().With(SimulatorHeaders.Status, "400")));
        Assert.Empty(_sim.State.PendingFaults);
    }

    [Fact]
    public async Task DeleteFaults_ClearsTheQueue()
    {
        using var post = await _sim.Http.PostAsync("/_sim/faults", Requests.Json("""{"status":503,"count":5}"""));
        using var delete = await _sim.Http.DeleteAsync("/_sim/faults");

        Assert.Equal(1, (await delete.JsonAsync()).GetProperty("cleared").GetInt32());
        Assert.Empty(_sim.State.PendingFaults);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(Requests.OpenAiChat()));
    }

    [Theory]
    [InlineData("""{"stauts":503}""", "unknown field 'stauts'")]
    [InlineData("""{"status":200}""", "status must be an HTTP error status")]
    [InlineData("""{"api":"bedrock"}""", "api 'bedrock' is not one of")]
    [InlineData("""{"count":0}""", "count must be >= 1")]
    [InlineData("""{"hang":"yes"}""", "'hang' must be true or false")]
    [InlineData("""not json""", "not valid JSON")]
    public async Task PostFaults_BadInput_400NamingTheProblem(string body, string expected)
    {
        using var response = await _sim.Http.PostAsync("/_sim/faults", Requests.Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, (await response.JsonAsync()).GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Empty(_sim.State.PendingFaults);
    }

    [Fact]
    public async Task GetRequests_RecordsRequestsWithCredentialsRedacted()
    {
        using var chat = await _sim.Http.SendAsync(Requests.OpenAiChat("gpt-4o-mini", prompt: "record me"));
        var id = chat.SimRequestId();
        using var gemini = await _sim.Http.PostAsync("/v1beta/models/gemini-2.5-flash:generateContent?key=query-secret", Requests.Json("""{"contents":[{"parts":[{"text":"hi"}]}]}"""));

        using var response = await _sim.Http.GetAsync($"/_sim/requests?since={id - 1}");
        var records = await response.JsonAsync();
        var record = records[0];
        Assert.Equal(id, record.GetProperty("id").GetInt64());
        Assert.Equal("openai", record.GetProperty("api").GetString());
        Assert.Equal("/v1/chat/completions", record.GetProperty("path").GetString());
        Assert.Equal("gpt-4o-mini", record.GetProperty("model").GetString());
        Assert.False(record.GetProperty("stream").GetBoolean());
        Assert.Equal("[redacted]", record.GetProperty("headers").GetProperty("authorization").GetString());
        Assert.Contains("record me", record.GetProperty("body").GetString(), StringComparison.Ordinal);
        Assert.Equal(200, record.GetProperty("status").GetInt32());
        Assert.False(record.GetProperty("aborted").GetBoolean());
        Assert.True(record.GetProperty("endedAt").GetDateTimeOffset() >= record.GetProperty("startedAt").GetDateTimeOffset());
        var geminiRecord = records[1];
        Assert.Equal("gemini", geminiRecord.GetProperty("api").GetString());
        Assert.Equal("/v1beta/models/gemini-2.5-flash:generateContent?key=[redacted]", geminiRecord.GetProperty("path").GetString());
        Assert.DoesNotContain("secret", records.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetRequest_WaitEnd_LongPollsUntilTheRequestEnds()
    {
        var next = _sim.State.LastRequestId + 1;
        var poll = _sim.Http.GetAsync($"/_sim/requests/{next}?wait=end&timeoutMs=10000");
        using var chat = await _sim.Http.SendAsync(Requests.OpenAiChat().With(SimulatorHeaders.LatencyMs, "50"));

        using var response = await poll;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var record = await response.JsonAsync();
        Assert.Equal(next, record.GetProperty("id").GetInt64());
        Assert.NotEqual(JsonValueKind.Null, record.GetProperty("endedAt").ValueKind);
    }

    [Fact]
    public async Task DeleteRequests_ClearsTheLog()
    {
        using var chat = await _sim.Http.SendAsync(Requests.OpenAiChat());
        using var delete = await _sim.Http.DeleteAsync("/_sim/requests");
        using var list = await _sim.Http.GetAsync("/_sim/requests");

        Assert.Equal(0, (await list.JsonAsync()).GetArrayLength());
        Assert.Empty(_sim.State.Requests);
    }

    [Fact]
    public async Task PutConfig_FaultRateFailsAnExactDeterministicFraction()
    {
        using var put = await _sim.Http.PutAsync("/_sim/config", Requests.Json("""{"faultRate":0.5,"faultStatus":502}"""));
        Assert.Equal(0.5, (await put.JsonAsync()).GetProperty("faultRate").GetDouble());

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            statuses.Add(await StatusAsync(Requests.OpenAiChat()));
        }

        // Every second generation request fails; which phase depends on the shared counter.
        Assert.Equal(3, statuses.Count(s => s == HttpStatusCode.BadGateway));
        for (var i = 1; i < statuses.Count; i++)
        {
            Assert.NotEqual(statuses[i - 1], statuses[i]);
        }
    }

    [Fact]
    public async Task PutConfig_BadValue_400()
    {
        using var response = await _sim.Http.PutAsync("/_sim/config", Requests.Json("""{"faultRate":2}"""));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("faultRate", (await response.JsonAsync()).GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, _sim.State.Defaults.FaultRate);
    }

    [Fact]
    public async Task GetRequests_ServedUsage_OnlyForAnswersServedWhole()
    {
        using var served = await _sim.Http.SendAsync(Requests.OpenAiChat());
        var usage = (await served.JsonAsync()).GetProperty("usage");
        await _sim.State.WaitForEndAsync(served.SimRequestId());
        using var failed = await _sim.Http.SendAsync(Requests.OpenAiChat().With(SimulatorHeaders.Status, "503"));
        await failed.Content.ReadAsStringAsync();
        await _sim.State.WaitForEndAsync(failed.SimRequestId());

        using var list = await _sim.Http.GetAsync($"/_sim/requests?since={served.SimRequestId() - 1}");
        var records = (await list.JsonAsync()).EnumerateArray().ToArray();
        Assert.Equal(2, records.Length);
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), records[0].GetProperty("servedInputTokens").GetInt32());
        Assert.Equal(usage.GetProperty("completion_tokens").GetInt32(), records[0].GetProperty("servedOutputTokens").GetInt32());
        Assert.Equal(JsonValueKind.Null, records[1].GetProperty("servedInputTokens").ValueKind);
        Assert.Equal(JsonValueKind.Null, records[1].GetProperty("servedOutputTokens").ValueKind);
    }

    private async Task<HttpStatusCode> StatusAsync(HttpRequestMessage request)
    {
        using var response = await _sim.Http.SendAsync(request);
        await response.Content.ReadAsStringAsync();
        return response.StatusCode;
    }
}
