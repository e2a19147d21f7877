using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Gateway.Grpc.Simulator.Tests;

[Collection("Simulator")]
public sealed class FaultInjectionTests : IDisposable
{
    private readonly SimulatorFixture _sim;

    public FaultInjectionTests(SimulatorFixture sim)
    {
        _sim = sim;
        _sim.Reset();
    }

    public void Dispose() => _sim.Reset();

    [Fact]
    public async Task Status429_OpenAi_RateLimitBodyAndRetryAfterHeaders()
    {
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat().With(SimulatorHeaders.Status, "429").With(SimulatorHeaders.RetryAfterMs, "1500"));

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("2", response.Headers.GetValues("retry-after").Single());
        Assert.Equal("1500", response.Headers.GetValues("retry-after-ms").Single());
        var error = (await response.JsonAsync()).GetProperty("error");
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
        Assert.Equal("requests", error.GetProperty("type").GetString());
        Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        Assert.Contains("Rate limit", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status429_WithoutRetryHeader_DefaultsToOneSecond()
    {
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat().With(SimulatorHeaders.Status, "429"));

        Assert.Equal("1", response.Headers.GetValues("retry-after").Single());
        Assert.Equal("1000", response.Headers.GetValues("retry-after-ms").Single());
    }

    [Fact]
    public async Task Status500_NoRetryAfterUnlessAsked()
    {
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat().With(SimulatorHeaders.Status, "500"));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.False(response.Headers.Contains("retry-after"));
        Assert.Equal("server_error", (await response.JsonAsync()).GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public async Task Status529_Anthropic_OverloadedErrorShape()
    {
        using var response = await _sim.Http.SendAsync(Requests.Anthropic().With(SimulatorHeaders.Status, "529"));

        Assert.Equal(529, (int)response.StatusCode);
        var body = await response.JsonAsync();
        Assert.Equal("error", body.GetProperty("type").GetString());
        Assert.Equal("overloaded_error", body.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("Overloaded", body.GetProperty("error").GetProperty("message").GetString());
        Assert.StartsWith("req_", body.GetProperty("request_id").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status503_Gemini_GoogleErrorShape()
    {
        using var response = await _sim.Http.SendAsync(Requests.Gemini().With(SimulatorHeaders.Status, "503").With(SimulatorHeaders.Message, "custom text"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var error = (await response.JsonAsync()).GetProperty("error");
        Assert.Equal(503, error.GetProperty("code").GetInt32());
        Assert.Equal("UNAVAILABLE", error.GetProperty("status").GetString());
        Assert.Equal("custom text", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Status429_Azure_AzureErrorShape()
    {
        using var response = await _sim.Http.SendAsync(Requests.Azure().With(SimulatorHeaders.Status, "429"));

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var error = (await response.JsonAsync()).GetProperty("error");
        Assert.Equal("429", error.GetProperty("code").GetString());
        Assert.Contains("rate limit", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LatencyMs_DelaysResponseHeaders()
    {
        var stopwatch = Stopwatch.StartNew();
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat().With(SimulatorHeaders.LatencyMs, "300"), HttpCompletionOption.ResponseHeadersRead);

        Assert.True(stopwatch.ElapsedMilliseconds >= 290, $"headers after {stopwatch.ElapsedMilliseconds} ms");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var record = await _sim.State.WaitForEndAsync(response.SimRequestId());
        Assert.Contains("latency:300", record.Faults);
    }

    [Fact]
    public async Task TtftMs_FirstTokenComesAfterHeaders()
    {
        var stopwatch = Stopwatch.StartNew();
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat(stream: true).With(SimulatorHeaders.TtftMs, "300"), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? line;
        while ((line = await reader.ReadLineAsync()) is not null && !line.Contains("\"delta\":{\"content\"", StringComparison.Ordinal))
        {
        }

        Assert.NotNull(line);
        Assert.True(stopwatch.ElapsedMilliseconds >= 290, $"first token after {stopwatch.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task TokensPerSecond_PacesTheStream()
    {
        var stopwatch = Stopwatch.StartNew();
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat(stream: true).With(SimulatorHeaders.OutputTokens, "7").With(SimulatorHeaders.TokensPerSecond, "30"), HttpCompletionOption.ResponseHeadersRead);
        var events = await response.ReadSseAsync();

        // Token n is due at n/30 s: the 7th at 200 ms.
        Assert.True(stopwatch.ElapsedMilliseconds >= 190, $"stream took {stopwatch.ElapsedMilliseconds} ms");
        Assert.Equal("[DONE]", events[^1].Data);
    }

    [Fact]
    public async Task OutputTokens_SetsNaturalLength_UsageCountsStreamedTokens()
    {
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat(stream: true).With(SimulatorHeaders.OutputTokens, "9"));
        var events = await response.ReadSseAsync();

        var contentChunks = events.Count(e => e.Data.Contains("\"delta\":{\"content\"", StringComparison.Ordinal));
        using var usageChunk = JsonDocument.Parse(events[^2].Data);
        Assert.Equal(9, contentChunks);
        Assert.Equal(9, usageChunk.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(0, usageChunk.RootElement.GetProperty("choices").GetArrayLength());
    }

    [Fact]
    public async Task CachedTokens_ReportedInUsage()
    {
        using var openAi = await _sim.Http.SendAsync(Requests.OpenAiChat(prompt: "a long enough prompt to cache").With(SimulatorHeaders.CachedTokens, "4"));
        using var anthropic = await _sim.Http.SendAsync(Requests.Anthropic(prompt: "a long enough prompt to cache").With(SimulatorHeaders.CachedTokens, "4"));

        var usage = (await openAi.JsonAsync()).GetProperty("usage");
        Assert.Equal(4, usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
        var anthropicUsage = (await anthropic.JsonAsync()).GetProperty("usage");
        Assert.Equal(4, anthropicUsage.GetProperty("cache_read_input_tokens").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() - 4, anthropicUsage.GetProperty("input_tokens").GetInt32());
    }

    [Fact]
    public async Task DisconnectAfter_StreamsNTokensThenCutsWithoutTerminalEvent()
    {
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat(stream: true).With(SimulatorHeaders.DisconnectAfter, "3"), HttpCompletionOption.ResponseHeadersRead);
        var id = response.SimRequestId();
        var contentChunks = 0;
        var sawDone = false;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var failure = await Record.ExceptionAsync(async () =>
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                contentChunks += line.Contains("\"delta\":{\"content\"", StringComparison.Ordinal) ? 1 : 0;
                sawDone |= line == "data: [DONE]";
            }
        });

        Assert.IsAssignableFrom<IOException>(failure);
        Assert.Equal(3, contentChunks);
        Assert.False(sawDone);
        var record = await _sim.State.WaitForEndAsync(id);
        Assert.True(record.Disconnected);
        Assert.False(record.Aborted);
        Assert.Contains("disconnect:3", record.Faults);
    }

    [Fact]
    public async Task DisconnectAfter_Anthropic_NoMessageStop()
    {
        using var response = await _sim.Http.SendAsync(Requests.Anthropic(stream: true).With(SimulatorHeaders.DisconnectAfter, "2"), HttpCompletionOption.ResponseHeadersRead);
        var events = new List<string>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    events.Add(line[7..]);
                }
            }
        });

        Assert.Equal(["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta"], events);
    }

    [Fact]
    public async Task ErrorAfter_OpenAi_ErrorEventAfterNTokens_NoDone()
    {
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat(stream: true).With(SimulatorHeaders.ErrorAfter, "2").With(SimulatorHeaders.Status, "503"));
        var events = await response.ReadSseAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, events.Count(e => e.Data.Contains("\"delta\":{\"content\"", StringComparison.Ordinal)));
        using var last = JsonDocument.Parse(events[^1].Data);
        Assert.Equal("server_error", last.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.DoesNotContain(events, e => e.Data == "[DONE]");
        Assert.Contains("error-after:2", (await _sim.State.WaitForEndAsync(response.SimRequestId())).Faults);
    }

    [Fact]
    public async Task ErrorAfter_Anthropic529_OverloadedErrorEvent()
    {
        using var response = await _sim.Http.SendAsync(Requests.Anthropic(stream: true).With(SimulatorHeaders.ErrorAfter, "1").With(SimulatorHeaders.Status, "529"));
        var events = await response.ReadSseAsync();

        Assert.Equal(["message_start", "content_block_start", "ping", "content_block_delta", "error"], events.Select(e => e.Event));
        using var error = JsonDocument.Parse(events[^1].Data);
        Assert.Equal("overloaded_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public async Task ErrorAfter_Unary_Ignored()
    {
        using var response = await _sim.Http.SendAsync(Requests.Gemini().With(SimulatorHeaders.ErrorAfter, "1"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Malformed_Unary_BodyIsNotJson()
    {
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat().With(SimulatorHeaders.Malformed, "1"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.StartsWith("{\"id\":\"chatcmpl-", text, StringComparison.Ordinal);
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(text));
    }

    [Fact]
    public async Task Malformed_Stream_ExactlyOneDataLineIsNotJson()
    {
        using var response = await _sim.Http.SendAsync(Requests.Gemini(stream: true).With(SimulatorHeaders.Malformed, "true"));
        var events = await response.ReadSseAsync();

        var invalid = 0;
        foreach (var (_, data) in events)
        {
            try
            {
                using var _ = JsonDocument.Parse(data);
            }
            catch (JsonException)
            {
                invalid++;
            }
        }

        Assert.Equal(1, invalid);
        Assert.Contains("\"finishReason\":\"STOP\"", events[^1].Data, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hang_SendsHeadersThenNothingUntilTheClientLeaves()
    {
        using var cts = new CancellationTokenSource();
        using var response = await _sim.Http.SendAsync(Requests.Anthropic(stream: true).With(SimulatorHeaders.Hang, "1"), HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var id = response.SimRequestId();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream; charset=utf-8", response.Content.Headers.ContentType?.ToString());

        var stream = await response.Content.ReadAsStreamAsync(cts.Token);
        var read = stream.ReadAsync(new byte[1], cts.Token).AsTask();
        var record = await _sim.State.WaitForStartAsync(id);
        Assert.Contains("hang", record.Faults);
        Assert.False(read.IsCompleted);

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
        response.Dispose();
        var ended = await _sim.State.WaitForAbortAsync(id).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(ended.Aborted);
        Assert.Equal(200, ended.Status);
    }

    [Theory]
    [InlineData(SimulatorHeaders.Status, "abc")]
    [InlineData(SimulatorHeaders.Status, "700")]
    [InlineData(SimulatorHeaders.LatencyMs, "-5")]
    [InlineData(SimulatorHeaders.TokensPerSecond, "fast")]
    [InlineData(SimulatorHeaders.Hang, "maybe")]
    public async Task BadFaultHeader_400NamingTheHeader(string header, string value)
    {
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat().With(header, value));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var message = (await response.JsonAsync()).GetProperty("error").GetProperty("message").GetString();
        Assert.Contains(header, message, StringComparison.Ordinal);
    }
}
