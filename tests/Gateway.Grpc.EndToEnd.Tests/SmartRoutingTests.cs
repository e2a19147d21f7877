using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.Governance.Ledger;
using Gateway.Grpc.Governance.Storage;
using Gateway.V1;
using Grpc.Core;
using Xunit.Abstractions;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.EndToEnd.Tests;

/// <summary>
/// Smarter routing end to end through the provider simulator: capability matching, task routers
/// (rules and MiniLM nearest-centroid), cascades with a quality gate, mid-stream continuation.
/// </summary>
[Collection("EndToEnd")]
public sealed class SmartRoutingTests(SimulatorFixture sim, ITestOutputHelper output)
{
    private static CompletionRequest WithImage(CompletionRequest request)
    {
        request.Messages[0].Parts.Add(new ContentPart { Image = new ImagePart { Url = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", Detail = "low" } });
        return request;
    }

    private static async Task<(System.Net.HttpStatusCode Status, string Body)> PostRestAsync(GatewayHost gateway, string json)
    {
        var address = gateway.App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray()[1];
        using var http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("/v1/chat/completions", content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static async Task<IReadOnlyList<LedgerEntry>> LedgerAsync(GatewayHost gateway)
    {
        await gateway.App.Services.GetRequiredService<LedgerWriter>().FlushAsync();
        return [.. ((InMemoryGovernanceStore)gateway.App.Services.GetRequiredService<IGovernanceStore>()).Ledger.OrderBy(static r => r.Timestamp)];
    }

    // ---- capabilities ----------------------------------------------------------------------

    [Fact]
    public async Task Complete_ImageInput_SkipsTextOnlyDeployment()
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig()
            .Model("mixed", [sim.Deployment("openai", "text-only"), sim.Deployment("openai", "with-vision")], static (v, p) =>
            {
                v[p + "deployments:0:capabilities:0"] = "tools";
                v[p + "deployments:1:capabilities:0"] = "vision";
                v[p + "deployments:1:capabilities:1"] = "tools";
            })
            .Build());

        // Round-robin would alternate; every image request must land on the vision deployment.
        for (var i = 0; i < 4; i++)
        {
            var response = await gateway.CompleteAsync(WithImage(Requests.Chat("mixed", "What is in this picture?")));
            Assert.Equal("with-vision", response.Routing.Deployment);
        }

        Assert.Equal(4, sim.RequestsSince(since).Count);

        // Text requests still use both.
        var served = new HashSet<string>();
        for (var i = 0; i < 4; i++)
        {
            served.Add((await gateway.CompleteAsync(Requests.Chat("mixed"))).Routing.Deployment);
        }

        Assert.Equal(["text-only", "with-vision"], served.Order());
    }

    [Fact]
    public async Task Complete_ImageInput_FallbackObeysCapabilities_NoneCanServe_InvalidArgumentNamesVision()
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig()
            .Model("text", [sim.Deployment("openai", "text-1")], static (v, p) =>
            {
                v[p + "deployments:0:capabilities:0"] = "none";
                v[p + "fallbacks:0"] = "also-text";
                v[p + "fallbacks:1"] = "seeing";
            })
            .Model("also-text", [sim.Deployment("anthropic", "text-2")], static (v, p) => v[p + "deployments:0:capabilities:0"] = "tools")
            .Model("seeing", [sim.Deployment("anthropic", "vision-1")], static (v, p) => v[p + "deployments:0:capabilities:0"] = "vision")
            .Model("blind", [sim.Deployment("openai", "blind-1")], static (v, p) => v[p + "deployments:0:capabilities:0"] = "tools")
            .Build());

        var response = await gateway.CompleteAsync(WithImage(Requests.Chat("text", "Describe the image.")));
        Assert.Equal("vision-1", response.Routing.Deployment);
        var attempt = Assert.Single(response.Routing.Attempts);
        Assert.True(attempt.Fallback);
        Assert.Single(sim.RequestsSince(since));

        var error = await gateway.CompleteFailsAsync(WithImage(Requests.Chat("blind", "Describe the image.")));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("vision", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("capability_unavailable", error.Trailers.GetValue("gateway-error-kind"));
        Assert.Single(sim.RequestsSince(since));
    }

    [Fact]
    public async Task Rest_ImageInput_NoDeploymentHasVision_400NamesVision()
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig()
            .Model("blind", [sim.Deployment("openai", "blind-1")], static (v, p) => v[p + "deployments:0:capabilities:0"] = "none")
            .Build());

        var (status, body) = await PostRestAsync(gateway, """
            {"model":"blind","messages":[{"role":"user","content":[{"type":"text","text":"Describe this."},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}
            """);

        Assert.Equal(System.Net.HttpStatusCode.BadRequest, status);
        Assert.Contains("vision", body, StringComparison.Ordinal);
        Assert.Contains("invalid_request_error", body, StringComparison.Ordinal);
        Assert.Empty(sim.RequestsSince(since));
    }

    [Fact]
    public async Task Complete_MaxTokensAboveDeploymentOutputLimit_GoesToTheLargerOne()
    {
        sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(new GatewayConfig()
            .Model("limited", [sim.Deployment("openai", "short-out"), sim.Deployment("openai", "long-out")], static (v, p) =>
            {
                v[p + "deployments:0:maxOutputTokens"] = "16";
                v[p + "deployments:1:maxOutputTokens"] = "4096";
            })
            .Build());

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("long-out", (await gateway.CompleteAsync(Requests.Chat("limited", maxTokens: 100))).Routing.Deployment);
        }
    }

    // ---- task router -----------------------------------------------------------------------

    private static GatewayConfig RouterConfig(SimulatorFixture sim)
    {
        var config = new GatewayConfig()
            .Model("qa-model", [sim.Deployment("openai", "qa-1")])
            .Model("code-model", [sim.Deployment("openai", "code-1")])
            .Model("reasoning-model", [sim.Deployment("anthropic", "reasoning-1")])
            .Model("vision-model", [sim.Deployment("anthropic", "vision-1")])
            .Model("auto", [], static (v, p) =>
            {
                v[p + "kind"] = "router";
                v[p + "router:routes:simple_qa"] = "qa-model";
                v[p + "router:routes:code"] = "code-model";
                v[p + "router:routes:reasoning"] = "reasoning-model";
                v[p + "router:routes:vision"] = "vision-model";
                v[p + "router:defaultClass"] = "simple_qa";
                v[p + "router:rules:0:class"] = "vision";
                v[p + "router:rules:0:hasImages"] = "true";
                foreach (var (taskClass, examples) in TaskExamples.Configured)
                {
                    for (var i = 0; i < examples.Length; i++)
                    {
                        v[$"{p}router:examples:{taskClass}:{i}"] = examples[i];
                    }
                }
            });
        return config;
    }

    [Fact]
    public async Task Complete_Router_ClassifiesHeldOutExamples_AtLeast90Percent()
    {
        sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(RouterConfig(sim).Build());
        var targets = new Dictionary<string, string> { ["simple_qa"] = "qa-1", ["code"] = "code-1", ["reasoning"] = "reasoning-1", ["vision"] = "vision-1" };

        var wrong = new List<string>();
        var total = 0;
        foreach (var (expected, prompt, image) in TaskExamples.HeldOut)
        {
            var request = Requests.Chat("auto", prompt);
            if (image)
            {
                WithImage(request);
            }

            var response = await gateway.CompleteAsync(request);
            total++;
            var routing = response.Routing;
            // The class is reported, and the answer came from that class's model.
            Assert.Equal(targets[routing.TaskClass], routing.Deployment);
            Assert.Equal(routing.Deployment.Replace("-1", "-model", StringComparison.Ordinal), routing.RoutedModel);
            if (routing.TaskClass != expected)
            {
                wrong.Add($"{expected} -> {routing.TaskClass}: {prompt}");
            }
        }

        Assert.True(total >= 40, $"held-out set has only {total} items");
        var accuracy = (total - wrong.Count) / (double)total;
        output.WriteLine($"router accuracy {accuracy:P1} on {total} held-out prompts; misrouted:\n{string.Join('\n', wrong)}");
        Assert.True(accuracy >= 0.9, $"accuracy {accuracy:P1} on {total} held-out prompts; misrouted:\n{string.Join('\n', wrong)}");
    }

    [Fact]
    public async Task StreamComplete_Router_TaskClassInFinishRoutingAndAccessLog()
    {
        sim.Reset();
        var accessLog = Path.Combine(Path.GetTempPath(), $"routing-access-{Guid.NewGuid():N}.jsonl");
        try
        {
            await using var gateway = await GatewayHost.StartAsync(RouterConfig(sim).Set("accessLog:enabled", "true").Set("accessLog:path", accessLog).Build());

            var result = await gateway.StreamAsync(Requests.Chat("auto", "Write a Python function that reverses a linked list."));

            Assert.Equal(StatusCode.OK, result.Status.StatusCode);
            Assert.Equal("code", result.Finish!.Routing.TaskClass);
            Assert.Equal("code-model", result.Finish.Routing.RoutedModel);
            Assert.Equal("code-1", result.Finish.Routing.Deployment);

            // Stopping the host drains the access log.
            await gateway.StopAsync();
            var line = Assert.Single(await File.ReadAllLinesAsync(accessLog), static l => l.Contains("\"model\":\"auto\"", StringComparison.Ordinal));
            Assert.Contains("\"task_class\":\"code\"", line, StringComparison.Ordinal);
            Assert.Contains("\"routed_model\":\"code-model\"", line, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(accessLog);
        }
    }

    // ---- cascade ---------------------------------------------------------------------------

    private GatewayConfig CascadeConfig(bool cheapAnswersJson)
    {
        // The cheap stage echoes the prompt (not JSON) unless told to answer properly.
        var cheapHeaders = cheapAnswersJson ? null : new Dictionary<string, string> { ["x-sim-echo"] = "8" };
        return new GatewayConfig()
            .Model("cheap", [sim.Deployment("openai", "cheap-1", cheapHeaders)])
            .Model("strong", [sim.Deployment("anthropic", "strong-1")])
            .Model("smart", [], static (v, p) =>
            {
                v[p + "kind"] = "cascade";
                v[p + "cascade:stages:0"] = "cheap";
                v[p + "cascade:stages:1"] = "strong";
                v[p + "cascade:gate:json"] = "true";
                v[p + "cascade:gate:refusal"] = "true";
            })
            .Set("pricing:claude-haiku-4-5:input", "1")
            .Set("pricing:claude-haiku-4-5:output", "5");
    }

    [Fact]
    public async Task Complete_Cascade_InvalidJsonFirstStage_Escalates_BothStagesBilled()
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(CascadeConfig(cheapAnswersJson: false).Build());

        var response = await gateway.CompleteAsync(Requests.WithJsonSchema("smart"));

        Requests.AssertWeatherReport(response.Message.Content);
        Assert.Equal("strong-1", response.Routing.Deployment);
        Assert.Equal("strong", response.Routing.RoutedModel);
        Assert.Equal(2, response.Routing.Cascade.Count);
        Assert.False(response.Routing.Cascade[0].Passed);
        Assert.Equal("json_schema", response.Routing.Cascade[0].Gate);
        Assert.Equal("cheap-1", response.Routing.Cascade[0].Deployment);
        Assert.True(response.Routing.Cascade[1].Passed);
        Assert.Equal(["cheap-1", "strong-1"], response.Routing.Attempts.Select(static a => a.Deployment));
        var requests = sim.RequestsSince(since);
        Assert.Equal(2, requests.Count);

        // Usage and cost cover both stages; the ledger row says the same.
        var row = Assert.Single(await LedgerAsync(gateway));
        Assert.Equal(response.Usage.InputTokens, row.InputTokens);
        Assert.Equal(response.Usage.OutputTokens, row.OutputTokens);
        Assert.True(response.Routing.Cascade[0].CostUsd > 0, "the first stage has a price");
        Assert.Equal((double)row.CostUsd, response.Usage.CostUsd, 9);
        Assert.True(row.CostUsd > (decimal)response.Routing.Cascade[0].CostUsd, "the row's cost includes the second stage");
        Assert.Equal(2, row.Attempts);
    }

    [Fact]
    public async Task Complete_Cascade_ValidJsonFirstStage_DoesNotEscalate()
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(CascadeConfig(cheapAnswersJson: true).Build());

        var response = await gateway.CompleteAsync(Requests.WithJsonSchema("smart"));

        Requests.AssertWeatherReport(response.Message.Content);
        Assert.Equal("cheap-1", response.Routing.Deployment);
        var stage = Assert.Single(response.Routing.Cascade);
        Assert.True(stage.Passed);
        Assert.Single(sim.RequestsSince(since));
    }

    [Fact]
    public async Task Complete_Cascade_RefusalFirstStage_Escalates()
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(CascadeConfig(cheapAnswersJson: false).Build());

        // The cheap stage echoes this (a refusal); the gate checks refusals before JSON.
        var request = Requests.Chat("smart", "I'm sorry, but I can't help with that request.", 64);
        request.ResponseFormat = new ResponseFormat { Type = ResponseFormatType.JsonObject };
        var response = await gateway.CompleteAsync(request);

        Assert.Equal("strong-1", response.Routing.Deployment);
        Assert.Equal("refusal", response.Routing.Cascade[0].Gate);
        Assert.Equal(2, sim.RequestsSince(since).Count);
    }

    [Fact]
    public async Task StreamComplete_Cascade_StreamsThePassingStage_OneFinish()
    {
        sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(CascadeConfig(cheapAnswersJson: false).Build());

        var result = await gateway.StreamAsync(Requests.WithJsonSchema("smart"));

        Assert.Equal(StatusCode.OK, result.Status.StatusCode);
        Requests.AssertWeatherReport(result.Text);
        Assert.Single(result.Events, static e => e.EventCase == CompletionChunk.EventOneofCase.Finish);
        Assert.Equal(CompletionChunk.EventOneofCase.Finish, result.Events[^1].EventCase);
        Assert.Equal("strong-1", result.Finish!.Routing.Deployment);
        Assert.Equal(2, result.Finish.Routing.Cascade.Count);
        Assert.True(result.Usage!.CostUsd > 0);
    }

    /// <summary>
    /// The judge deployment echoes its prompt ("Question: ... Answer: ... Score (0-10):"), so the
    /// first number in its reply is the first number in the question, or the 0 of "(0-10)".
    /// </summary>
    private GatewayConfig JudgedCascadeConfig()
        => new GatewayConfig()
            .Model("cheap", [sim.Deployment("openai", "cheap-1")])
            .Model("strong", [sim.Deployment("anthropic", "strong-1")])
            .Model("judge", [sim.Deployment("openai", "judge-1", new Dictionary<string, string> { ["x-sim-echo"] = "1000" })])
            .Model("judged", [], static (v, p) =>
            {
                v[p + "kind"] = "cascade";
                v[p + "cascade:stages:0"] = "cheap";
                v[p + "cascade:stages:1"] = "strong";
                v[p + "cascade:gate:judge:model"] = "judge";
                v[p + "cascade:gate:judge:threshold"] = "7";
            });

    [Theory]
    [InlineData("Tell me about gateways.", 0.0, "strong-1", 3)]
    [InlineData("Give me 9 reasons to use gateways.", 9.0, "cheap-1", 2)]
    public async Task Complete_Cascade_JudgeScore_EscalatesBelowThreshold(string prompt, double score, string servedBy, int upstreamCalls)
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(JudgedCascadeConfig().Build());

        var response = await gateway.CompleteAsync(Requests.Chat("judged", prompt, 32));

        Assert.Equal(servedBy, response.Routing.Deployment);
        Assert.Equal(score, response.Routing.Cascade[0].JudgeScore);
        Assert.Equal(score >= 7, response.Routing.Cascade[0].Passed);
        Assert.Equal(score >= 7 ? "" : "judge", response.Routing.Cascade[0].Gate);
        var calls = sim.RequestsSince(since);
        Assert.Equal(upstreamCalls, calls.Count);
        // The judge's tokens are part of the call's usage, as the ledger row.
        var row = Assert.Single(await LedgerAsync(gateway));
        Assert.Equal(response.Usage.OutputTokens, row.OutputTokens);
        Assert.True(row.InputTokens > calls.Count * 5, $"input tokens {row.InputTokens} cover every upstream call");
    }

    // ---- mid-stream continuation -----------------------------------------------------------

    private const string ContinuedText = "The quick brown fox jumps over the lazy dog, then keeps running across the wide green field.";

    private GatewayConfig ContinuationConfig(bool enabled)
        => new GatewayConfig()
            .Model("cont", [
                // The first deployment is always chosen first (weight 1 against 0) and dies after 5 deltas.
                sim.Deployment("openai", "dies-1", new Dictionary<string, string> { ["x-sim-echo"] = "4", ["x-sim-disconnect-after"] = "5" }),
                sim.Deployment("anthropic", "takes-over-1", new Dictionary<string, string> { ["x-sim-echo"] = "4" }),
            ], (v, p) =>
            {
                v[p + "strategy"] = "weighted";
                v[p + "deployments:1:weight"] = "0";
                v[p + "continuation:enabled"] = enabled ? "true" : "false";
            })
            .Set("pricing:claude-haiku-4-5:input", "1")
            .Set("pricing:claude-haiku-4-5:output", "5");

    [Fact]
    public async Task StreamComplete_CutAfter5Tokens_ContinuesOnSecondDeployment_OneTextOneFinish_LedgerHasBothAttempts()
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(ContinuationConfig(enabled: true).Build());

        var result = await gateway.StreamAsync(Requests.Chat("cont", ContinuedText, 64));

        Assert.True(result.Status.StatusCode == StatusCode.OK, result.Describe());
        // One coherent text: the first 5 deltas from the first deployment, the rest from the second.
        Assert.Equal(ContinuedText, result.Text);
        var continuation = Assert.Single(result.Events, static e => e.EventCase == CompletionChunk.EventOneofCase.Continuation).Continuation;
        Assert.Equal("dies-1", continuation.FailedDeployment);
        Assert.Equal("takes-over-1", continuation.Deployment);
        Assert.Equal("anthropic", continuation.Provider);
        Assert.Equal(5, continuation.TokensCarried);
        Assert.Equal("stream_interrupted", continuation.Error);
        var beforeContinuation = result.Events.TakeWhile(static e => e.EventCase != CompletionChunk.EventOneofCase.Continuation).Count(static e => e.EventCase == CompletionChunk.EventOneofCase.Delta);
        Assert.Equal(5, beforeContinuation);
        Assert.Single(result.Events, static e => e.EventCase == CompletionChunk.EventOneofCase.Finish);
        Assert.Equal(CompletionChunk.EventOneofCase.Finish, result.Events[^1].EventCase);
        Assert.DoesNotContain(result.Events, static e => e.EventCase == CompletionChunk.EventOneofCase.Error);

        var routing = result.Finish!.Routing;
        Assert.Equal("takes-over-1", routing.Deployment);
        Assert.Equal([("dies-1", AttemptOutcome.Failed), ("takes-over-1", AttemptOutcome.Success)], routing.Attempts.Select(static a => (a.Deployment, a.Outcome)));
        Assert.Single(routing.Continuations);

        var requests = sim.RequestsSince(since);
        Assert.Equal(2, requests.Count);
        Assert.True(requests[0].Disconnected, requests[0].ToString());

        // Usage covers both attempts: 5 output tokens carried plus the second attempt's.
        var usage = result.Usage!;
        var deltas = result.Events.Count(static e => e.EventCase == CompletionChunk.EventOneofCase.Delta);
        Assert.Equal(deltas, usage.OutputTokens);
        var row = Assert.Single(await LedgerAsync(gateway));
        Assert.Equal(2, row.Attempts);
        Assert.Equal("OK", row.Status);
        Assert.Equal("takes-over-1", row.Deployment);
        Assert.Equal(usage.OutputTokens, row.OutputTokens);
        Assert.Equal(usage.InputTokens, row.InputTokens);
        Assert.Equal((double)row.CostUsd, usage.CostUsd, 9);
        Assert.True(row.CostUsd > 0);
    }

    [Fact]
    public async Task RestStream_CutAfter5Tokens_ContinuesSeamlessly()
    {
        var since = sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(ContinuationConfig(enabled: true).Build());

        var (status, body) = await PostRestAsync(gateway, $$"""
            {"model":"cont","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"{{ContinuedText}}"}]}
            """);

        Assert.Equal(System.Net.HttpStatusCode.OK, status);
        var text = new System.Text.StringBuilder();
        var finishes = 0;
        foreach (var line in body.Split('\n'))
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal))
            {
                continue;
            }

            using var chunk = System.Text.Json.JsonDocument.Parse(line["data: ".Length..]);
            Assert.False(chunk.RootElement.TryGetProperty("error", out _), line);
            if (chunk.RootElement.GetProperty("choices") is { ValueKind: System.Text.Json.JsonValueKind.Array, } choices && choices.GetArrayLength() > 0)
            {
                var choice = choices[0];
                if (choice.GetProperty("delta").TryGetProperty("content", out var piece) && piece.ValueKind == System.Text.Json.JsonValueKind.String)
                {
                    text.Append(piece.GetString());
                }

                if (choice.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == System.Text.Json.JsonValueKind.String)
                {
                    finishes++;
                }
            }
        }

        Assert.Equal(ContinuedText, text.ToString());
        Assert.Equal(1, finishes);
        Assert.EndsWith("data: [DONE]", body.TrimEnd(), StringComparison.Ordinal);
        Assert.Equal(2, sim.RequestsSince(since).Count);
    }

    [Fact]
    public async Task StreamComplete_CutAfter5Tokens_ContinuationOff_ErrorEventAsBefore()
    {
        sim.Reset();
        await using var gateway = await GatewayHost.StartAsync(ContinuationConfig(enabled: false).Build());

        var result = await gateway.StreamAsync(Requests.Chat("cont", ContinuedText, 64));

        Assert.Equal(StatusCode.Unavailable, result.Status.StatusCode);
        Assert.Null(result.Finish);
        Assert.DoesNotContain(result.Events, static e => e.EventCase == CompletionChunk.EventOneofCase.Continuation);
        Assert.Equal("stream_interrupted", result.Error!.Kind);
    }
}
