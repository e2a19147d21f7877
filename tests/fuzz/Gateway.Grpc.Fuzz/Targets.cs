using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Gateway.Grpc.Adapters;
using Gateway.Grpc.Adapters.Anthropic;
using Gateway.Grpc.Adapters.Gemini;
using Gateway.Grpc.Adapters.OpenAI;
using Gateway.Grpc.Adapters.Secrets;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Hosting;
using Gateway.Grpc.Server.Rest;
using Gateway.V1;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Grpc.Fuzz;

/// <summary>
/// Each target feeds one input to one parser and returns normally when the parser either
/// accepted it or refused it the documented way; anything else escapes and is a crash.
/// </summary>
internal static class Targets
{
    private static readonly Dictionary<string, Action<byte[]>> All = new(StringComparer.Ordinal)
    {
        ["openai-request"] = OpenAiRequest,
        ["sse-openai"] = input => Sse(input, "openai"),
        ["sse-anthropic"] = input => Sse(input, "anthropic"),
        ["sse-gemini"] = input => Sse(input, "gemini"),
        ["config-yaml"] = ConfigYaml,
    };

    public static IEnumerable<string> Names => All.Keys;

    public static bool TryGet(string name, out Action<byte[]> target) => All.TryGetValue(name, out target!);

    /// <summary>Runs the target on a file or every file under a directory; 0 when none crashed.</summary>
    public static int Replay(string name, string path, TextWriter output)
    {
        if (!TryGet(name, out var target))
        {
            output.WriteLine($"unknown target '{name}'");
            return 2;
        }

        var files = Directory.Exists(path) ? Directory.GetFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray() : [path];
        foreach (var file in files)
        {
            try
            {
                target(File.ReadAllBytes(file));
            }
            catch (Exception ex)
            {
                output.WriteLine($"CRASH {name} {file}: {ex}");
                return 1;
            }
        }

        output.WriteLine($"OK {name}: {files.Length} inputs");
        return 0;
    }

    /// <summary>The REST door's body reader: JSON parse, then the OpenAI request mapping.</summary>
    private static void OpenAiRequest(byte[] input)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(input, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            return; // The endpoint answers 400 invalid JSON.
        }

        using (document)
        {
            try
            {
                _ = OpenAiRequestReader.ReadChatCompletions(document.RootElement, new RequestLimitOptions());
            }
            catch (OpenAiRequestException)
            {
                // A 400 naming the field.
            }
        }
    }

    /// <summary>A provider's stream: the input is the text/event-stream body of a 200 answer.</summary>
    private static void Sse(byte[] input, string provider)
    {
        using var handler = new FixedAnswer(input);
        var secrets = new FixedSecrets();
        IProviderAdapter adapter = provider switch
        {
            "anthropic" => new AnthropicAdapter(secrets, TimeProvider.System, NullLogger<AnthropicAdapter>.Instance, handler),
            "gemini" => new GeminiAdapter(secrets, TimeProvider.System, NullLogger<GeminiAdapter>.Instance, handler),
            _ => new OpenAIChatAdapter(OpenAIFlavor.OpenAI, secrets, TimeProvider.System, NullLogger<OpenAIChatAdapter>.Instance, handler),
        };
        var settings = new Dictionary<string, string> { ["base_url"] = "http://upstream.fuzz.invalid", ["api_key"] = "env:FUZZ_KEY", ["timeout_ms"] = "5000", ["stream_idle_timeout_ms"] = "5000" };
        var call = new ProviderCall(
            new CompletionRequest { Model = "m", Messages = { new Message { Role = Role.User, Content = "hi" } } },
            new DeploymentInfo("d", provider, "m") { Settings = settings });
        try
        {
            Drain(adapter.StreamAsync(call, CancellationToken.None)).GetAwaiter().GetResult();
        }
        catch (ProviderException)
        {
            // Malformed, interrupted or an error event: the documented failure.
        }
        finally
        {
            (adapter as IDisposable)?.Dispose();
        }
    }

    private static async Task Drain(IAsyncEnumerable<CompletionChunk> events)
    {
        await foreach (var _ in events.ConfigureAwait(false))
        {
        }
    }

    /// <summary>The config file: YAML into keys, bound with unknown keys refused, then validated.</summary>
    private static void ConfigYaml(byte[] input)
    {
        var path = Path.Combine(Path.GetTempPath(), $"gw-fuzz-{Environment.ProcessId}.yaml");
        File.WriteAllBytes(path, input);
        try
        {
            IConfigurationRoot configuration;
            try
            {
                configuration = new ConfigurationBuilder().Add(new YamlConfigurationSource(path)).Build();
            }
            catch (GatewayConfigurationException)
            {
                return; // Not YAML: start-up stops naming the line.
            }

            var options = new GatewayOptions();
            try
            {
                configuration.Bind(options, static b => b.ErrorOnUnknownConfiguration = true);
            }
            catch (InvalidOperationException)
            {
                return; // Unknown key or wrong type: start-up stops naming it.
            }

            _ = GatewayOptionsValidator.Validate(options, ["simulated", "openai", "anthropic", "gemini", "grpc", "openai-compatible", "azure-openai"]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private sealed class FixedAnswer(byte[] body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("text/event-stream");
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = content, RequestMessage = request });
        }
    }

    private sealed class FixedSecrets : ISecretResolver
    {
        public string Resolve(string reference) => "fuzz-key";
    }
}
