namespace Gateway.Grpc.Simulator.Tests;

[Collection("Simulator")]
public sealed class AbortTests : IDisposable
{
    private readonly SimulatorFixture _sim;

    public AbortTests(SimulatorFixture sim)
    {
        _sim = sim;
        _sim.Reset();
    }

    public void Dispose() => _sim.Reset();

    [Theory]
    [InlineData("openai")]
    [InlineData("anthropic")]
    [InlineData("gemini")]
    public async Task ClientCancelsMidStream_RecordAborted(string api)
    {
        var request = api switch
        {
            "openai" => Requests.OpenAiChat(stream: true),
            "anthropic" => Requests.Anthropic(stream: true),
            _ => Requests.Gemini(stream: true),
        };
        request.With(SimulatorHeaders.TokensPerSecond, "20").With(SimulatorHeaders.OutputTokens, "500");
        using var cts = new CancellationTokenSource();
        var response = await _sim.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        var id = response.SimRequestId();
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));

        // Read until the first data line: the stream is live.
        while (await reader.ReadLineAsync(cts.Token) is { } line && !line.StartsWith("data: ", StringComparison.Ordinal))
        {
        }

        await cts.CancelAsync();
        response.Dispose();

        var record = await _sim.State.WaitForAbortAsync(id).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(record.Aborted);
        Assert.False(record.Disconnected);
        Assert.True(record.Stream);
        Assert.NotNull(record.EndedAt);
    }

    [Fact]
    public async Task CompletedRequest_WaitForAbortThrows()
    {
        using var response = await _sim.Http.SendAsync(Requests.OpenAiChat());
        await response.Content.ReadAsStringAsync();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => _sim.State.WaitForAbortAsync(response.SimRequestId()));
        Assert.Contains("without being aborted", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitForEnd_RegisteredBeforeTheRequestArrives()
    {
        var next = _sim.State.LastRequestId + 1;
        var started = _sim.State.WaitForStartAsync(next);
        var ended = _sim.State.WaitForEndAsync(next);
        Assert.False(ended.IsCompleted);

        using var response = await _sim.Http.SendAsync(Requests.Anthropic());

        Assert.Equal(next, (await started).Id);
        Assert.Equal(200, (await ended).Status);
    }
}
