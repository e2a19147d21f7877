using System.Text.Json;
using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.Guardrails.Format;
using Gateway.Grpc.Simulator;
using Grpc.Core;

namespace Gateway.Grpc.Guardrails.Tests;

/// <summary>response_format json_schema answers: checked, asked for again once, then a clear error.</summary>
[Collection("EndToEnd")]
public sealed class ResponseFormatTests(SimulatorFixture sim)
{
    private const string Schema = """
        {"type":"object","properties":{"city":{"type":"string","minLength":1},"temperature":{"type":"number","minimum":-90,"maximum":60},
         "tags":{"type":"array","items":{"$ref":"#/$defs/tag"},"maxItems":2},"unit":{"enum":["c","f"]}},
         "required":["city","temperature"],"additionalProperties":false,"$defs":{"tag":{"type":"string"}}}
        """;

    [Theory]
    [InlineData("""{"city":"Paris","temperature":21.5,"tags":["sun"],"unit":"c"}""", null)]
    [InlineData("""{"city":"Paris"}""", "$.temperature: required property missing")]
    [InlineData("""{"city":"Paris","temperature":"warm"}""", "$.temperature: expected number, got string")]
    [InlineData("""{"city":"Paris","temperature":99}""", "$.temperature: above the maximum 60")]
    [InlineData("""{"city":"Paris","temperature":1,"wind":3}""", "$.wind: property not allowed by the schema")]
    [InlineData("""{"city":"Paris","temperature":1,"tags":["a",2]}""", "$.tags[1]: expected string, got number")]
    [InlineData("""{"city":"Paris","temperature":1,"unit":"k"}""", "$.unit: not one of the allowed values")]
    [InlineData("Sure! Here is the JSON you asked for", "$: not valid JSON")]
    public void Validator_ReportsTheFirstProblemWithItsPath(string answer, string? expected)
    {
        using var schema = JsonDocument.Parse(Schema);

        var problem = JsonSchemaValidator.Validate(answer, schema.RootElement);

        if (expected is null)
        {
            Assert.Null(problem);
        }
        else
        {
            Assert.NotNull(problem);
            Assert.StartsWith(expected, problem, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Complete_ValidAnswer_OneUpstreamCall()
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig().Model("m", [sim.Deployment("openai", "openai-1")]).Build());

        var response = await gateway.CompleteAsync(Requests.WithJsonSchema("m"));

        Requests.AssertWeatherReport(response.Message.Content);
        Assert.Single(sim.RequestsSince(since));
    }

    [Fact]
    public async Task Complete_FirstAnswerNotJson_RetriedOnce_SecondAnswerReturned_BothBilled()
    {
        var since = sim.Reset();
        sim.State.EnqueueFault(new FaultScript { Echo = 8 });
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig().Model("m", [sim.Deployment("openai", "openai-1")]).Build());

        var response = await gateway.CompleteAsync(Requests.WithJsonSchema("m"));

        Requests.AssertWeatherReport(response.Message.Content);
        var upstream = sim.RequestsSince(since);
        Assert.Equal(2, upstream.Count);
        Assert.True(response.Usage.OutputTokens > 0);
        Assert.True(response.Usage.InputTokens >= 2 * 10, $"input tokens {response.Usage.InputTokens} should count both prompts");
    }

    [Fact]
    public async Task Complete_AnswerNeverMatches_UnavailableNamingTheProblem_AfterOneRetry()
    {
        var since = sim.Reset();
        var deployment = sim.Deployment("openai", "openai-1", new Dictionary<string, string> { ["x-sim-echo"] = "8" });
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig().Model("m", [deployment]).Build());

        var error = await gateway.CompleteFailsAsync(Requests.WithJsonSchema("m"));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal("response_format_invalid", error.Trailers.GetValue("gateway-error-kind"));
        Assert.Contains("not valid JSON", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(2, sim.RequestsSince(since).Count);
    }

    [Fact]
    public async Task Complete_RetriesZero_FailsAfterTheFirstAnswer()
    {
        var since = sim.Reset();
        var deployment = sim.Deployment("openai", "openai-1", new Dictionary<string, string> { ["x-sim-echo"] = "8" });
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig().Model("m", [deployment]).Set("guardrails:responseFormat:retries", "0").Build());

        var error = await gateway.CompleteFailsAsync(Requests.WithJsonSchema("m"));

        Assert.Equal("response_format_invalid", error.Trailers.GetValue("gateway-error-kind"));
        Assert.Single(sim.RequestsSince(since));
    }

    [Fact]
    public async Task StreamComplete_ValidAnswer_FinishesNormally()
    {
        sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig().Model("m", [sim.Deployment("openai", "openai-1")]).Build());

        var result = await gateway.StreamAsync(Requests.WithJsonSchema("m"));

        Assert.Equal(StatusCode.OK, result.Status.StatusCode);
        Requests.AssertWeatherReport(result.Text);
        Assert.NotNull(result.Finish);
    }

    [Fact]
    public async Task StreamComplete_AnswerNotMatching_ErrorEventInsteadOfFinish_NotCached()
    {
        var since = sim.Reset();
        var deployment = sim.Deployment("openai", "openai-1", new Dictionary<string, string> { ["x-sim-echo"] = "8" });
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig().Model("m", [deployment]).Set("cache:enabled", "true").Build());

        var result = await gateway.StreamAsync(Requests.WithJsonSchema("m"));

        Assert.Equal(StatusCode.Unavailable, result.Status.StatusCode);
        Assert.Null(result.Finish);
        Assert.Equal("response_format_invalid", result.Error?.Kind);
        Assert.Contains("not valid JSON", result.Error!.Message, StringComparison.Ordinal);
        Assert.Equal("response_format_invalid", result.Trailers.GetValue("gateway-error-kind"));
        // The text went out as it came (streams are not retried), and nothing was asked for again.
        Assert.NotEmpty(result.Text);
        Assert.Single(sim.RequestsSince(since));
        // An answer that failed its schema is not cached: the same call goes upstream again.
        var again = await gateway.StreamAsync(Requests.WithJsonSchema("m"));
        Assert.Equal(StatusCode.Unavailable, again.Status.StatusCode);
        Assert.Equal(2, sim.RequestsSince(since).Count);
    }
}
