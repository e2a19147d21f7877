using Gateway.Grpc.Simulator;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Grpc.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The provider simulator, in-process on free loopback ports, shared by every test of the
/// "EndToEnd" collection (which runs its tests one at a time, so request ids and the fault
/// queue are not shared with a concurrent test). It checks credentials: the gateway's
/// deployments send <see cref="KeyEnv"/>.
/// </summary>
public sealed class SimulatorFixture : IAsyncLifetime
{
    /// <summary>The environment variable the deployments' <c>api_key: env:...</c> reference.</summary>
    public const string KeyEnv = "E2E_SIM_API_KEY";

    /// <summary>An environment variable holding a key the simulator refuses.</summary>
    public const string WrongKeyEnv = "E2E_SIM_WRONG_KEY";

    private const string Key = "sk-e2e-7f3a9c";

    public WebApplication App { get; private set; } = null!;

    public SimulatorState State { get; private set; } = null!;

    public Uri HttpAddress { get; private set; } = null!;

    public Uri GrpcAddress { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable(KeyEnv, Key);
        Environment.SetEnvironmentVariable(WrongKeyEnv, "sk-not-the-right-one");
        App = SimulatorApp.Build(new SimulatorOptions { ApiKey = Key });
        await App.StartAsync();
        State = App.Services.GetRequiredService<SimulatorState>();
        HttpAddress = App.GetHttpAddress();
        GrpcAddress = App.GetGrpcAddress();
    }

    public async Task DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }

    /// <summary>Forgets faults and defaults earlier tests left; returns the id to read the log from.</summary>
    public long Reset()
    {
        State.ClearFaults();
        State.Defaults = new SimulatorDefaults();
        return State.LastRequestId;
    }

    /// <summary>
    /// The simulator's records of the requests after <paramref name="since"/>, oldest first. A
    /// client can hold its whole answer before the simulator closes the record, so each record is
    /// awaited until it ends (a request still running after 2 s is returned as it is).
    /// </summary>
    public List<RequestRecord> RequestsSince(long since)
    {
        var records = new List<RequestRecord>();
        foreach (var record in State.Requests)
        {
            if (record.Id > since)
            {
                var ended = State.WaitForEndAsync(record.Id);
                records.Add(ended.Wait(TimeSpan.FromSeconds(2)) ? ended.Result : record);
            }
        }

        records.Sort(static (a, b) => a.Id.CompareTo(b.Id));
        return records;
    }

    /// <summary>
    /// A deployment of <paramref name="provider"/> pointing at this simulator. <paramref name="headers"/>
    /// become <c>headers.NAME</c> settings (extra upstream headers, or gRPC metadata), which is how
    /// a deployment carries simulator fault headers.
    /// </summary>
    public Deployment Deployment(string provider, string name, IReadOnlyDictionary<string, string>? headers = null, string keyEnv = KeyEnv)
    {
        var http = HttpAddress.ToString().TrimEnd('/');
        var grpc = GrpcAddress.ToString().TrimEnd('/');
        var settings = new Dictionary<string, string> { ["api_key"] = "env:" + keyEnv };
        string upstream;
        string api;
        switch (provider)
        {
            case "openai":
                upstream = "gpt-4o-mini";
                api = "openai";
                settings["base_url"] = http + "/v1";
                break;
            case "openai-compatible":
                upstream = "gpt-4o";
                api = "openai";
                settings["base_url"] = http + "/v1";
                break;
            case "azure-openai":
                upstream = "gpt-4o";
                api = "azure";
                settings["base_url"] = http;
                settings["deployment"] = "gpt4o-prod";
                settings["api_version"] = "2024-10-21";
                break;
            case "anthropic":
                upstream = "claude-haiku-4-5";
                api = "anthropic";
                settings["base_url"] = http;
                break;
            case "gemini":
                upstream = "gemini-2.5-flash";
                api = "gemini";
                settings["base_url"] = http;
                break;
            case "grpc":
                upstream = "sim-small";
                api = "grpc";
                settings["base_url"] = grpc;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(provider), provider, "no simulator API for this provider");
        }

        if (headers is not null)
        {
            foreach (var (header, value) in headers)
            {
                settings["headers." + header] = value;
            }
        }

        return new Deployment(name, provider, upstream, api, settings);
    }
}

/// <summary>A gateway deployment: its provider, upstream model, the simulator API it lands on, settings.</summary>
public sealed record Deployment(string Name, string Provider, string UpstreamModel, string Api, Dictionary<string, string> Settings)
{
    public double InputCostPerMillion { get; init; }

    public double OutputCostPerMillion { get; init; }

    /// <summary>The same deployment pointed at another base URL (e.g. a closed port).</summary>
    public Deployment WithBaseUrl(string baseUrl) => this with { Settings = new Dictionary<string, string>(Settings) { ["base_url"] = baseUrl } };
}

[CollectionDefinition("EndToEnd")]
public sealed class EndToEndCollection : ICollectionFixture<SimulatorFixture>
{
}
