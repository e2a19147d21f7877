using System.Text.Json;
using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.Simulator;
using Gateway.V1;

namespace Gateway.Grpc.EndToEnd.Tests;

/// <summary>
/// One gateway, one deployment per provider type, every one pointing at the simulator: the
/// adapters speak each real wire format over HTTP (or gRPC) and the gateway normalizes it.
/// </summary>
[Collection("EndToEnd")]
public sealed class ProviderMatrixTests(SimulatorFixture sim)
{
    public static TheoryData<string> Providers => new() { "openai", "openai-compatible", "azure-openai", "anthropic", "gemini", "grpc" };

    private static readonly Dictionary<string, string> ExpectedPath = new()
    {
        ["openai"] = "/v1/chat/completions",
        ["openai-compatible"] = "/v1/chat/completions",
        ["azure-openai"] = "/openai/deployments/gpt4o-prod/chat/completions",
        ["anthropic"] = "/v1/messages",
        ["gemini"] = "/v1beta/models/gemini-2.5-flash:",
        ["grpc"] = "/gateway.v1.Completion/",
    };

    private async Task<(GatewayHost Gateway, Deployment Deployment)> StartAsync(string provider)
    {
        var deployment = sim.Deployment(provider, provider + "-1");
        var gateway = await GatewayHost.StartAsync(new GatewayConfig().Model("m", [deployment]).Build());
        return (gateway, deployment);
    }

    private RequestRecord SingleRecord(long since, Deployment deployment, bool stream)
    {
        var record = Assert.Single(sim.RequestsSince(since));
        Assert.Equal(deployment.Api, record.Api);
        Assert.StartsWith(ExpectedPath[deployment.Provider], record.Path, StringComparison.Ordinal);
        Assert.Equal(stream, record.Stream);
        Assert.Equal(200, record.Status ?? (record.GrpcStatus == 0 ? 200 : record.GrpcStatus));
        Assert.DoesNotContain("sk-e2e", string.Join(";", record.Headers.Values), StringComparison.Ordinal);
        return record;
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Complete_EachProvider_ReturnsTextAndUsageFromTheRightApi(string provider)
    {
        var since = sim.Reset();
        var (gateway, deployment) = await StartAsync(provider);
        await using var _ = gateway;

        var response = await gateway.CompleteAsync(Requests.Chat("m", maxTokens: 6));

        Assert.False(string.IsNullOrWhiteSpace(response.Message.Content));
        Assert.Equal(Role.Assistant, response.Message.Role);
        Assert.Equal(FinishReason.Length, response.FinishReason);
        Assert.True(response.Usage.InputTokens > 0, response.Usage.ToString());
        Assert.Equal(6, response.Usage.OutputTokens);
        Assert.False(response.Usage.Estimated);
        Assert.Equal(deployment.Name, response.Routing.Deployment);
        var record = SingleRecord(since, deployment, stream: false);
        Assert.Contains("Tell me about gateways.", record.Body, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task StreamComplete_EachProvider_StartDeltasUsageThenFinishLast(string provider)
    {
        var since = sim.Reset();
        var (gateway, deployment) = await StartAsync(provider);
        await using var _ = gateway;

        var result = await gateway.StreamAsync(Requests.Chat("m", maxTokens: 5));

        Assert.True(result.Status.StatusCode == global::Grpc.Core.StatusCode.OK, result.Describe());
        Assert.Equal(CompletionChunk.EventOneofCase.Start, result.Events[0].EventCase);
        Assert.Equal(deployment.Name, result.Events[0].Start.Deployment);
        Assert.Equal(CompletionChunk.EventOneofCase.Finish, result.Events[^1].EventCase);
        Assert.Single(result.Events, e => e.EventCase == CompletionChunk.EventOneofCase.Finish);
        Assert.Equal(FinishReason.Length, result.Finish!.Reason);
        Assert.False(string.IsNullOrWhiteSpace(result.Text));
        Assert.NotNull(result.Usage);
        Assert.True(result.Usage!.InputTokens > 0);
        Assert.Equal(5, result.Usage.OutputTokens);
        Assert.False(result.Usage.Estimated);
        SingleRecord(since, deployment, stream: true);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Complete_WithTool_ReturnsToolCallWithNameAndJsonArguments(string provider)
    {
        var since = sim.Reset();
        var (gateway, deployment) = await StartAsync(provider);
        await using var _ = gateway;

        var response = await gateway.CompleteAsync(Requests.WithWeatherTool("m"));

        Assert.Equal(FinishReason.ToolCalls, response.FinishReason);
        var call = Assert.Single(response.Message.ToolCalls);
        Assert.Equal("get_weather", call.Name);
        Assert.False(string.IsNullOrEmpty(call.Id));
        using var arguments = JsonDocument.Parse(call.ArgumentsJson);
        Assert.Equal(JsonValueKind.String, arguments.RootElement.GetProperty("city").ValueKind);
        var record = SingleRecord(since, deployment, stream: false);
        Assert.Contains("get_weather", record.Body, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task StreamComplete_WithTool_StreamsToolCallThenFinishToolCalls(string provider)
    {
        var since = sim.Reset();
        var (gateway, deployment) = await StartAsync(provider);
        await using var _ = gateway;

        var result = await gateway.StreamAsync(Requests.WithWeatherTool("m"));

        Assert.True(result.Status.StatusCode == global::Grpc.Core.StatusCode.OK, result.Describe());
        Assert.Equal(FinishReason.ToolCalls, result.Finish!.Reason);
        var deltas = result.Events.Where(e => e.EventCase == CompletionChunk.EventOneofCase.ToolCallDelta).Select(e => e.ToolCallDelta).ToList();
        Assert.NotEmpty(deltas);
        Assert.All(deltas, d => Assert.Equal(0, d.Index));
        Assert.Equal("get_weather", string.Concat(deltas.Select(d => d.Name)));
        using var arguments = JsonDocument.Parse(string.Concat(deltas.Select(d => d.ArgumentsDelta)));
        Assert.Equal(JsonValueKind.String, arguments.RootElement.GetProperty("city").ValueKind);
        Assert.NotNull(result.Usage);
        SingleRecord(since, deployment, stream: true);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Complete_WithJsonSchema_ReturnsJsonMatchingTheSchema(string provider)
    {
        var since = sim.Reset();
        var (gateway, deployment) = await StartAsync(provider);
        await using var _ = gateway;

        var response = await gateway.CompleteAsync(Requests.WithJsonSchema("m"));

        Assert.Equal(FinishReason.Stop, response.FinishReason);
        Assert.Empty(response.Message.ToolCalls);
        Requests.AssertWeatherReport(response.Message.Content);
        var record = SingleRecord(since, deployment, stream: false);
        // The schema reached the provider in its own dialect.
        Assert.Contains(SchemaMarker(provider), record.Body, StringComparison.Ordinal);
        Assert.Contains("temperature", record.Body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("openai")]
    [InlineData("anthropic")]
    [InlineData("gemini")]
    public async Task StreamComplete_WithJsonSchema_StreamsJsonMatchingTheSchema(string provider)
    {
        sim.Reset();
        var (gateway, _) = await StartAsync(provider);
        await using var __ = gateway;

        var result = await gateway.StreamAsync(Requests.WithJsonSchema("m"));

        Assert.True(result.Status.StatusCode == global::Grpc.Core.StatusCode.OK, result.Describe());
        Assert.Equal(FinishReason.Stop, result.Finish!.Reason);
        Requests.AssertWeatherReport(result.Text);
    }

    // How each dialect carries the schema: OpenAI response_format, Anthropic a forced tool named
    // after the schema, Gemini responseMimeType + responseSchema, gRPC our own message.
    private static string SchemaMarker(string provider) => provider switch
    {
        "anthropic" or "grpc" => "weather_report",
        "gemini" => "application/json",
        _ => "\"json_schema\"",
    };
}
