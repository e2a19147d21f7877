using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Gateway.Grpc.Console.Tests;

/// <summary>
/// A real gateway (<see cref="GatewayHost"/>) with the console on, in front of the provider
/// simulator (<see cref="SimulatorFixture"/>), with a master key and an audit trail file; and one
/// headless Debian chromium driven by Playwright. Shared by the tests of the "Console" collection.
/// </summary>
public sealed class ConsoleGatewayFixture : IAsyncLifetime
{
    public const string MasterKeyEnv = "CONSOLE_TEST_MASTER_KEY";
    public const string ChromiumPath = "/usr/bin/chromium";

    private readonly SimulatorFixture _simulator = new();
    private GatewayHost? _gateway;
    private IPlaywright? _playwright;

    public string MasterKey { get; } = "mk-console-" + Guid.NewGuid().ToString("N");

    public string AuditPath { get; } = Path.Combine(Path.GetTempPath(), "gw-console-audit-" + Guid.NewGuid().ToString("N") + ".jsonl");

    public Uri BaseAddress { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    internal GatewayHost Gateway => _gateway!;

    public async Task InitializeAsync()
    {
        await _simulator.InitializeAsync();
        Environment.SetEnvironmentVariable(MasterKeyEnv, MasterKey);
        var chat = _simulator.Deployment("openai", "chat-openai", new Dictionary<string, string>
        {
            // Paced, so a stream visibly arrives in pieces.
            ["x-sim-ttft-ms"] = "50",
            ["x-sim-tokens-per-second"] = "40",
            ["x-sim-output-tokens"] = "60",
        });
        var flaky = _simulator.Deployment("openai", "flaky-openai", new Dictionary<string, string> { ["x-sim-status"] = "503" });
        var config = new GatewayConfig()
            .Model("chat", [chat])
            .Model("flaky", [flaky])
            .Set("pricing:gpt-4o-mini:input", "2.5")
            .Set("pricing:gpt-4o-mini:output", "10")
            .Set("auth:masterKey", "env:" + MasterKeyEnv)
            .Set("console:enabled", "true")
            .Set("audit:path", AuditPath)
            .Build();
        _gateway = await GatewayHost.StartAsync(config);
        var addresses = _gateway.App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToArray();
        BaseAddress = new Uri(addresses[1].Replace("[::1]", "127.0.0.1", StringComparison.Ordinal));

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            // Root in a container: chromium's sandbox needs user namespaces it may not have.
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        await _simulator.DisposeAsync();
        File.Delete(AuditPath);
        // The trail's writer lock (JsonLinesAuditStore) stays beside it after the gateway stops.
        File.Delete(AuditPath + ".lock");
    }

    /// <summary>A client with no cookies and no redirects followed, for the plain HTTP tests.</summary>
    public HttpClient Client() => new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = BaseAddress };

    /// <summary>Signs in at <c>POST /ui/api/session</c> with <paramref name="key"/>, as the console's own page does.</summary>
    public static async Task<HttpResponseMessage> SignInAsync(HttpClient client, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/ui/api/session") { Content = JsonContent.Create(new { key }) };
        request.Headers.Add("X-Requested-With", "gateway-console");
        return await client.SendAsync(request);
    }

    /// <summary>A unary REST completion with <paramref name="key"/>; returns the HTTP status.</summary>
    public async Task<int> CompleteAsync(string key, string model = "chat", string prompt = "Hello from the console tests")
    {
        using var client = Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model, max_tokens = 5, messages = new[] { new { role = "user", content = prompt } } }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await client.SendAsync(request);
        return (int)response.StatusCode;
    }

    /// <summary>Audit records appended so far, as JSON lines.</summary>
    public List<JsonElement> AuditRecords()
    {
        if (!File.Exists(AuditPath))
        {
            return [];
        }

        using var stream = new FileStream(AuditPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var records = new List<JsonElement>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                records.Add(JsonDocument.Parse(line).RootElement.Clone());
            }
        }

        return records;
    }

    /// <summary>Where screenshots go: the test output folder, and docs/console/ of the repository (shown in the README).</summary>
    public static IEnumerable<string> ScreenshotPaths(string name)
    {
        yield return Path.Combine(AppContext.BaseDirectory, "screenshots", name + ".png");
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.Grpc.sln")))
            {
                yield return Path.Combine(dir.FullName, "docs", "console", name + ".png");
                yield break;
            }
        }
    }
}

[CollectionDefinition("Console")]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleGatewayFixture>
{
}
