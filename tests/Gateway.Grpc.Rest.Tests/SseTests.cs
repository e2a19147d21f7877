using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Gateway.Grpc.Rest.Tests.Infrastructure;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>Server-Sent Events as the wire shows them: framing, order, [DONE], errors, disconnects.</summary>
[Collection(GatewayCollection.Name)]
public sealed class SseTests(GatewayFixture gateway)
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static string StreamBody(int maxTokens, bool includeUsage, string extra = "")
        => $$"""{"model":"sim-small","stream":true,"max_tokens":{{maxTokens}},"messages":[{"role":"user","content":"hello"}]{{(includeUsage ? ",\"stream_options\":{\"include_usage\":true}" : "")}}{{extra}}}""";

    /// <summary>Splits an SSE body into the data of its events, checking the framing on the way.</summary>
    private static List<string> DataEvents(string body)
    {
        Assert.EndsWith("\n\n", body, StringComparison.Ordinal);
        var events = new List<string>();
        foreach (var block in body[..^2].Split("\n\n"))
        {
            Assert.StartsWith("data: ", block, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', block);
            events.Add(block["data: ".Length..]);
        }

        return events;
    }

    [Fact]
    public async Task Stream_WithIncludeUsage_RoleDeltasFinishUsageThenDone()
    {
        using var response = await gateway.Http.PostAsync("/v1/chat/completions", Json(StreamBody(4, includeUsage: true)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no-cache", response.Headers.CacheControl?.ToString());
        var events = DataEvents(await response.Content.ReadAsStringAsync());

        Assert.Equal("[DONE]", events[^1]);
        Assert.Single(events, e => e == "[DONE]");
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        var id = chunks[0].GetProperty("id").GetString();
        Assert.Equal(response.Headers.GetValues("x-request-id").Single(), id);
        Assert.All(chunks, c =>
        {
            Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString());
            Assert.Equal(id, c.GetProperty("id").GetString());
        });
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());

        var contentChunks = chunks.Where(c => c.GetProperty("choices").GetArrayLength() == 1 && c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var t) && t.GetString()!.Length > 0).ToList();
        Assert.Equal(4, contentChunks.Count);

        var finish = chunks[^2];
        Assert.Equal("length", finish.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(JsonValueKind.Null, finish.GetProperty("usage").ValueKind);
        var usage = chunks[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(4, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Stream_WithoutIncludeUsage_NoUsageChunk()
    {
        using var response = await gateway.Http.PostAsync("/v1/chat/completions", Json(StreamBody(3, includeUsage: false)));
        var events = DataEvents(await response.Content.ReadAsStringAsync());
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.All(chunks, c => Assert.False(c.TryGetProperty("usage", out _)));
        Assert.All(chunks, c => Assert.Equal(1, c.GetProperty("choices").GetArrayLength()));
        Assert.Equal("length", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Stream_EventsArriveBeforeTheStreamEnds()
    {
        // 5 tokens per second: if events were buffered, the first would arrive only with the last.
        var body = StreamBody(50, includeUsage: false, ",\"metadata\":{\"sim.tokens_per_second\":\"5\",\"sim.ttft_ms\":\"0\"}");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(body) };
        using var response = await gateway.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);
        var started = DateTime.UtcNow;
        var first = await reader.ReadLineAsync();
        var second = await ReadDataLineAsync(reader);
        Assert.StartsWith("data: {", first, StringComparison.Ordinal);
        Assert.Contains("\"content\"", second, StringComparison.Ordinal);
        // The whole answer takes ~10 s; two events must be readable long before.
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "events were not flushed one by one");
    }

    [Fact]
    public async Task Stream_ClientDisconnects_GenerationCancelled()
    {
        await gateway.WaitForIdleSimulatorAsync(TimeSpan.FromSeconds(10));
        var before = gateway.SimulatorStats;
        // A 20 s stream (100 tokens at 5/s) that we abandon after its first text.
        var body = StreamBody(100, includeUsage: false, ",\"metadata\":{\"sim.tokens_per_second\":\"5\",\"sim.ttft_ms\":\"0\",\"sim.output_tokens\":\"100\"}");
        using (var client = new HttpClient { BaseAddress = gateway.HttpBase })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(body) };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await using var stream = await response.Content.ReadAsStreamAsync();
            using var reader = new StreamReader(stream);
            await ReadDataLineAsync(reader);
            Assert.Equal(before.Started + 1, gateway.SimulatorStats.Started);
            Assert.Equal(before.Active + 1, gateway.SimulatorStats.Active);
        }

        // Disposing the response closed the connection: the gRPC pipeline's token must fire
        // and the simulator's generation end as cancelled, long before its 20 s are up.
        await Eventually.TrueAsync(() => gateway.SimulatorStats.Cancelled == before.Cancelled + 1, TimeSpan.FromSeconds(5), "the disconnect did not cancel the generation");
        var after = gateway.SimulatorStats;
        Assert.Equal(before.Completed, after.Completed);
        Assert.Equal(0, after.Active);
    }

    [Fact]
    public async Task Stream_ClientDisconnectsBeforeFirstToken_GenerationCancelledAtOnce()
    {
        await gateway.WaitForIdleSimulatorAsync(TimeSpan.FromSeconds(10));
        var before = gateway.SimulatorStats;
        // The first token would come after 30 s: only the disconnect's cancellation can end it sooner.
        var body = StreamBody(5, includeUsage: false, ",\"metadata\":{\"sim.ttft_ms\":\"30000\"}");
        using var client = new HttpClient { BaseAddress = gateway.HttpBase };
        using var cts = new CancellationTokenSource();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(body) };
        var send = client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        await Eventually.TrueAsync(() => gateway.SimulatorStats.Active == before.Active + 1, TimeSpan.FromSeconds(10), "the generation did not start");

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);

        await Eventually.TrueAsync(() => gateway.SimulatorStats.Cancelled == before.Cancelled + 1, TimeSpan.FromSeconds(5), "the disconnect did not cancel the waiting generation");
        Assert.Equal(0, gateway.SimulatorStats.Active);
    }

    [Fact]
    public async Task Stream_DeadlinePassesAfterStart_ErrorEventAndNoDone()
    {
        var body = StreamBody(200, includeUsage: true, ",\"metadata\":{\"sim.tokens_per_second\":\"20\",\"sim.ttft_ms\":\"0\",\"sim.output_tokens\":\"200\"}");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(body) };
        request.Headers.Add("x-request-timeout", "400ms");
        using var response = await gateway.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = DataEvents(await response.Content.ReadAsStringAsync());
        Assert.DoesNotContain("[DONE]", events);
        var last = JsonDocument.Parse(events[^1]).RootElement;
        var error = last.GetProperty("error");
        Assert.Equal("timeout_error", error.GetProperty("type").GetString());
        Assert.Equal("timeout", error.GetProperty("code").GetString());
        Assert.Contains("deadline", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.True(events.Count > 2, "the error should come after some output");
    }

    [Fact]
    public async Task Stream_FailsBeforeStart_JsonErrorWithHttpStatus()
    {
        using var response = await gateway.Http.PostAsync("/v1/chat/completions", Json("""{"model":"missing","stream":true,"messages":[{"role":"user","content":"hi"}]}"""));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Curl_StreamsSseWithDone()
    {
        var curl = ExternalProcess.RequireTool("curl", "apt-get install curl");
        var result = await ExternalProcess.RunAsync(
            curl,
            ["-sS", "-N", "--fail-with-body", new Uri(gateway.HttpBase, "/v1/chat/completions").ToString(), "-H", "Content-Type: application/json", "-d", StreamBody(3, includeUsage: false)],
            ExternalProcess.RepoRoot,
            TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.Describe());
        var events = DataEvents(result.Output.Replace("\r\n", "\n", StringComparison.Ordinal));
        Assert.Equal("[DONE]", events[^1]);
        Assert.Equal(3 + 2, events.Count - 1); // role chunk, 3 deltas, finish chunk
    }

    private static async Task<string> ReadDataLineAsync(StreamReader reader)
    {
        while (true)
        {
            var line = await reader.ReadLineAsync() ?? throw new InvalidOperationException("stream ended");
            if (line.StartsWith("data: ", StringComparison.Ordinal) && line.Contains("\"content\":\"", StringComparison.Ordinal) && !line.Contains("\"content\":\"\"", StringComparison.Ordinal))
            {
                return line;
            }
        }
    }
}
