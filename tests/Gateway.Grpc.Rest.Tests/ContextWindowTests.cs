using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Grpc.Rest.Tests.Infrastructure;
using Gateway.Grpc.Tokenizer.Chat;
using Gateway.V1;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>
/// Models with known windows: ctx-small (1000 tokens) falls back on context to ctx-mid (3000),
/// then ctx-large (50000 as a model, but its deployment ctx-large-narrow holds only 8000);
/// ctx-solo (1000) has no fallback. Simulated deployments answer at once with 3 tokens.
/// </summary>
public sealed class ContextWindowGatewayFixture : GatewayFixture
{
    protected override IReadOnlyDictionary<string, string?> Configuration
    {
        get
        {
            var config = new Dictionary<string, string?>();
            void Model(int i, string name, int window, string[] deployments, string[] fallbacks)
            {
                var p = $"models:{i}:";
                config[p + "name"] = name;
                config[p + "contextWindow"] = window.ToString(System.Globalization.CultureInfo.InvariantCulture);
                config[p + "retry:maxAttempts"] = "1";
                config[p + "circuitBreaker:enabled"] = "false";
                for (var j = 0; j < fallbacks.Length; j++)
                {
                    config[$"{p}contextFallbacks:{j}"] = fallbacks[j];
                }

                for (var j = 0; j < deployments.Length; j++)
                {
                    var d = $"{p}deployments:{j}:";
                    config[d + "name"] = deployments[j];
                    config[d + "provider"] = "simulated";
                    config[d + "settings:ttft_ms"] = "0";
                    config[d + "settings:output_tokens"] = "3";
                }
            }

            Model(0, "ctx-small", 1000, ["ctx-small-1"], ["ctx-mid", "ctx-large"]);
            Model(1, "ctx-mid", 3000, ["ctx-mid-1"], []);
            Model(2, "ctx-large", 50_000, ["ctx-large-narrow", "ctx-large-wide"], []);
            config["models:2:deployments:0:contextWindow"] = "8000";
            Model(3, "ctx-solo", 1000, ["ctx-solo-1"], []);
            Model(4, "ctx-tiny", 1000, ["ctx-tiny-1"], ["ctx-open"]);
            Model(5, "ctx-open", 0, ["ctx-open-1"], []);
            config.Remove("models:5:contextWindow");
            return config;
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ContextWindowCollection : ICollectionFixture<ContextWindowGatewayFixture>
{
    public const string Name = "context-window";
}

/// <summary>The context-window check before dispatch: refusal, context fallbacks at once, per-deployment windows.</summary>
[Collection(ContextWindowCollection.Name)]
public sealed class ContextWindowTests(ContextWindowGatewayFixture gateway) : IDisposable
{
    private readonly GrpcChannel _channel = GrpcChannel.ForAddress("http://" + gateway.GrpcTarget);

    private Completion.CompletionClient Client => new(_channel);

    public void Dispose() => _channel.Dispose();

    /// <summary>About <paramref name="words"/> tokens: "word" and " word" are one token each in o200k_base.</summary>
    private static CompletionRequest Prompt(string model, int words, int? maxTokens = null)
    {
        var request = new CompletionRequest { Model = model, Messages = { new Message { Role = Role.User, Content = string.Concat(Enumerable.Repeat("word ", words)) } } };
        if (maxTokens is { } max)
        {
            request.MaxTokens = max;
        }

        return request;
    }

    private Task<CompletionResponse> CompleteAsync(CompletionRequest request) => Client.CompleteAsync(request, deadline: DateTime.UtcNow.AddSeconds(30)).ResponseAsync;

    [Fact]
    public async Task FallbackWithAnUnknownWindow_TakesTheLongPrompt_WhichIsCountedOnlyToTwiceTheKnownWindow()
    {
        // The guard itself: a 100,000-token prompt to ctx-tiny (1000) goes to ctx-open (no window),
        // and the count stopped soon after 2x the largest known window (it counts in 16K-character
        // pieces) instead of running through all 100,000 tokens.
        var guard = gateway.Services.GetRequiredService<Gateway.Grpc.Server.Pipeline.ContextWindowGuard>();
        var catalog = gateway.Services.GetRequiredService<Gateway.Grpc.Server.Dispatch.ModelCatalog>();
        Assert.True(catalog.TryGet("ctx-tiny", out var tiny));
        var (group, fit) = guard.Check(tiny, Prompt("ctx-tiny", 100_000));
        Assert.Equal("ctx-open", group.Name);
        Assert.True(fit.Fallback);
        Assert.InRange(fit.Tokens, 2001, 20_000);

        // And end to end: answered by the open model's deployment.
        var response = await CompleteAsync(Prompt("ctx-tiny", 100_000));
        Assert.Equal("ctx-open-1", response.Routing.Deployment);
    }

    [Fact]
    public async Task PromptThatFits_StaysOnTheRequestedModel()
    {
        var response = await CompleteAsync(Prompt("ctx-small", 100));
        Assert.Equal("ctx-small-1", response.Routing.Deployment);
        var attempt = Assert.Single(response.Routing.Attempts);
        Assert.False(attempt.Fallback);
    }

    [Fact]
    public async Task PromptPastTheWindow_GoesToTheFirstContextFallbackThatFits_WithoutTryingTheSmallModel()
    {
        var started = gateway.SimulatorStats.Started;
        var response = await CompleteAsync(Prompt("ctx-small", 2000));
        Assert.Equal("ctx-mid-1", response.Routing.Deployment);
        // One attempt, on the fallback: the small model was never sent a prompt it cannot hold.
        var attempt = Assert.Single(response.Routing.Attempts);
        Assert.Equal("ctx-mid-1", attempt.Deployment);
        Assert.True(attempt.Fallback);
        Assert.Equal(started + 1, gateway.SimulatorStats.Started);
    }

    [Fact]
    public async Task PromptPastTwoWindows_SkipsToTheNextFallback_AndOnlyItsWideDeployment()
    {
        for (var i = 0; i < 4; i++)
        {
            var response = await CompleteAsync(Prompt("ctx-small", 10_000));
            Assert.Equal("ctx-large-wide", response.Routing.Deployment);
            Assert.True(Assert.Single(response.Routing.Attempts).Fallback);
        }
    }

    [Fact]
    public async Task MaxTokensPushingPastTheWindow_AlsoTakesTheFallback()
    {
        var response = await CompleteAsync(Prompt("ctx-small", 10, maxTokens: 2000));
        Assert.Equal("ctx-mid-1", response.Routing.Deployment);
    }

    [Fact]
    public async Task PerDeploymentWindows_ALongPromptOnlyGoesToTheDeploymentThatHoldsIt()
    {
        var served = new HashSet<string>();
        for (var i = 0; i < 6; i++)
        {
            var response = await CompleteAsync(Prompt("ctx-large", 10_000));
            served.Add(response.Routing.Deployment);
        }

        Assert.Equal(["ctx-large-wide"], served);

        // A prompt both hold is spread over both (round-robin): the windows only filter when they must.
        served.Clear();
        for (var i = 0; i < 6; i++)
        {
            served.Add((await CompleteAsync(Prompt("ctx-large", 500))).Routing.Deployment);
        }

        Assert.Equal(["ctx-large-narrow", "ctx-large-wide"], served.Order());
    }

    [Fact]
    public async Task PinnedToADeploymentTooSmall_RefusedNamingTheDeployment()
    {
        var request = Prompt("ctx-large", 10_000);
        request.Routing = new RoutingOptions { Deployment = "ctx-large-narrow" };
        var failure = await Assert.ThrowsAsync<RpcException>(() => CompleteAsync(request));
        Assert.Equal(StatusCode.InvalidArgument, failure.StatusCode);
        Assert.Contains("deployment 'ctx-large-narrow' of model 'ctx-large' holds 8000 tokens", failure.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PromptPastEveryWindow_RefusedWithContextLengthExceededNamingTheCounts()
    {
        var started = gateway.SimulatorStats.Started;
        var failure = await Assert.ThrowsAsync<RpcException>(() => CompleteAsync(Prompt("ctx-small", 120_000)));
        Assert.Equal(StatusCode.InvalidArgument, failure.StatusCode);
        Assert.Equal("context_length_exceeded", failure.Trailers.GetValue("gateway-error-kind"));
        var detail = failure.Status.Detail;
        Assert.StartsWith("messages: this request needs more than 100001 tokens (more than 100000 in the prompt, at least 1 for the reply)", detail, StringComparison.Ordinal);
        Assert.Contains("model 'ctx-small' holds 1000 tokens", detail, StringComparison.Ordinal);
        Assert.Contains("contextFallbacks (ctx-mid, ctx-large)", detail, StringComparison.Ordinal);
        Assert.Equal(started, gateway.SimulatorStats.Started);
    }

    [Fact]
    public async Task NoFallback_RefusalCarriesTheExactPromptCount()
    {
        var request = Prompt("ctx-solo", 1500, maxTokens: 50);
        var expected = ChatTokenCounter.ForModel("ctx-solo").CountPrompt(request);
        var failure = await Assert.ThrowsAsync<RpcException>(() => CompleteAsync(request));
        Assert.Equal(StatusCode.InvalidArgument, failure.StatusCode);
        Assert.Contains($"needs {expected + 50} tokens ({expected} in the prompt, 50 for max_tokens); model 'ctx-solo' holds 1000 tokens.", failure.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_TakesTheContextFallbackBeforeTheFirstEvent()
    {
        using var call = Client.StreamComplete(Prompt("ctx-small", 2000), deadline: DateTime.UtcNow.AddSeconds(30));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(CompletionChunk.EventOneofCase.Start, call.ResponseStream.Current.EventCase);
        Assert.Equal("ctx-mid-1", call.ResponseStream.Current.Start.Deployment);
        Finish? finish = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            if (call.ResponseStream.Current.EventCase == CompletionChunk.EventOneofCase.Finish)
            {
                finish = call.ResponseStream.Current.Finish;
            }
        }

        Assert.NotNull(finish);
        Assert.True(Assert.Single(finish.Routing.Attempts).Fallback);
    }

    [Fact]
    public async Task Rest_Refusal_Is400ContextLengthExceededInOpenAiShape()
    {
        var body = "{\"model\":\"ctx-solo\",\"messages\":[{\"role\":\"user\",\"content\":\"" + string.Concat(Enumerable.Repeat("word ", 1500)) + "\"}]}";
        using var response = await gateway.Http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal("messages", error.GetProperty("param").GetString());
        Assert.Contains("model 'ctx-solo' holds 1000 tokens", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rest_StreamRequest_RefusedBeforeTheStreamStarts_AsJsonNotSse()
    {
        var body = "{\"model\":\"ctx-solo\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"" + string.Concat(Enumerable.Repeat("word ", 1500)) + "\"}]}";
        using var response = await gateway.Http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task ListModels_ShowsTheModelWindow()
    {
        var models = await new Models.ModelsClient(_channel).ListModelsAsync(new ListModelsRequest());
        Assert.Equal(1000, models.Models.Single(m => m.Id == "ctx-small").ContextWindow);
        Assert.Equal(50_000, models.Models.Single(m => m.Id == "ctx-large").ContextWindow);
    }
}
