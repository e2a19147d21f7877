using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Gateway.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.Simulator.Tests;

/// <summary>One simulator on free loopback ports, shared by the tests of the "Simulator" collection.</summary>
public sealed class SimulatorFixture : IAsyncLifetime
{
    public WebApplication App { get; private set; } = null!;

    public SimulatorState State { get; private set; } = null!;

    public Uri HttpAddress { get; private set; } = null!;

    public Uri GrpcAddress { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public GrpcChannel Channel { get; private set; } = null!;

    public Completion.CompletionClient Completion { get; private set; } = null!;

    public Models.ModelsClient Models { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        App = SimulatorApp.Build(new SimulatorOptions());
        await App.StartAsync();
        State = App.Services.GetRequiredService<SimulatorState>();
        HttpAddress = App.GetHttpAddress();
        GrpcAddress = App.GetGrpcAddress();
        Http = new HttpClient { BaseAddress = HttpAddress, Timeout = TimeSpan.FromSeconds(30) };
        Channel = GrpcChannel.ForAddress(GrpcAddress);
        Completion = new Completion.CompletionClient(Channel);
        Models = new Models.ModelsClient(Channel);
    }

    public async Task DisposeAsync()
    {
        Channel.Dispose();
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }

    /// <summary>Forgets scripted faults and restores the defaults other tests may have changed.</summary>
    public void Reset()
    {
        State.ClearFaults();
        State.Defaults = new SimulatorDefaults();
    }
}

[CollectionDefinition("Simulator")]
public sealed class SimulatorCollection : ICollectionFixture<SimulatorFixture>
{
}

/// <summary>Request builders for the provider APIs.</summary>
internal static class Requests
{
    public static HttpRequestMessage OpenAiChat(string model = "gpt-4o-mini", bool stream = false, string prompt = "Say hello.", string? extra = null)
    {
        var body = $$"""{"model":"{{model}}","messages":[{"role":"user","content":{{JsonSerializer.Serialize(prompt)}}}],"stream":{{(stream ? "true" : "false")}}{{(stream ? ",\"stream_options\":{\"include_usage\":true}" : "")}}{{(extra is null ? "" : "," + extra)}}}""";
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-test-secret");
        return request;
    }

    public static HttpRequestMessage Anthropic(string model = "claude-haiku-4-5", bool stream = false, string prompt = "Say hello.")
    {
        var body = $$"""{"model":"{{model}}","max_tokens":256,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":{{JsonSerializer.Serialize(prompt)}}}]}""";
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = Json(body) };
        request.Headers.Add("x-api-key", "sk-ant-secret");
        request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    public static HttpRequestMessage Gemini(string model = "gemini-2.5-flash", bool stream = false, string prompt = "Say hello.")
    {
        var path = stream ? $"/v1beta/models/{model}:streamGenerateContent?alt=sse" : $"/v1beta/models/{model}:generateContent";
        var body = $$"""{"contents":[{"role":"user","parts":[{"text":{{JsonSerializer.Serialize(prompt)}}}]}]}""";
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body) };
        request.Headers.Add("x-goog-api-key", "gemini-secret");
        return request;
    }

    public static HttpRequestMessage Azure(string deployment = "gpt-4o-prod", string? apiVersion = "2024-10-21")
    {
        var path = $"/openai/deployments/{deployment}/chat/completions" + (apiVersion is null ? "" : "?api-version=" + apiVersion);
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json("""{"messages":[{"role":"user","content":"Say hello."}]}""") };
        request.Headers.Add("api-key", "azure-secret");
        return request;
    }

    public static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    public static HttpRequestMessage With(this HttpRequestMessage request, string header, string value)
    {
        request.Headers.Add(header, value);
        return request;
    }

    public static long SimRequestId(this HttpResponseMessage response)
        => long.Parse(response.Headers.GetValues(SimulatorHeaders.RequestId).Single(), System.Globalization.CultureInfo.InvariantCulture);

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>Reads an SSE body to its end: (event name or null, data) pairs.</summary>
    public static async Task<List<(string? Event, string Data)>> ReadSseAsync(this HttpResponseMessage response)
    {
        var events = new List<(string?, string)>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? name = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add((name, line["data: ".Length..]));
                name = null;
            }
        }

        return events;
    }
}
