using Gateway.Grpc.EndToEnd.Tests.Infrastructure;
using Gateway.Grpc.TestSupport;
using Gateway.V1;

namespace Gateway.Grpc.EndToEnd.Tests;

/// <summary>
/// A gateway loads the client libraries of the backends it is configured for, and no others:
/// StackExchange.Redis and the OTLP exporter stay out of a process that uses neither (each costs
/// about a megabyte of resident memory and its type loads). Nor does it compile expression trees
/// (System.Linq.Expressions, 2.5 MB resident): minimal-API handlers are generated at build time,
/// the gRPC services and interceptor come from DI, the OpenAPI document has its own endpoint
/// (generating the document, when someone asks for it, still loads it: the library's model
/// metadata does). Read from the gateway process's own memory map after it has served gRPC calls
/// (unary and streamed, through the response cache) and /healthz; the OTLP case shows the check
/// sees a library that is loaded.
/// </summary>
[Collection("EndToEnd")]
public sealed class LibraryLoadTests(SimulatorFixture sim)
{
    private const string Redis = "/StackExchange.Redis.dll";
    private const string Otlp = "/OpenTelemetry.Exporter.OpenTelemetryProtocol.dll";
    private const string Expressions = "/System.Linq.Expressions.dll";

    [Fact]
    public async Task WithoutRedisOrOtlp_TheirLibrariesAreNotLoaded()
    {
        var mapped = await MappedAfterCallsAsync(_ => { });

        Assert.DoesNotContain(mapped, path => path.EndsWith(Redis, StringComparison.Ordinal));
        Assert.DoesNotContain(mapped, path => path.EndsWith(Otlp, StringComparison.Ordinal));
        Assert.DoesNotContain(mapped, path => path.EndsWith(Expressions, StringComparison.Ordinal));
        Assert.Contains(mapped, path => path.EndsWith("/Gateway.Grpc.Caching.dll", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithOtlpTracing_TheExporterIsLoaded()
    {
        var mapped = await MappedAfterCallsAsync(config =>
        {
            config["telemetry:tracing:enabled"] = "true";
            // Nothing listens there: the exporter's sends fail quietly, the calls do not.
            config["telemetry:otlpEndpoint"] = "http://127.0.0.1:9";
        });

        Assert.Contains(mapped, path => path.EndsWith(Otlp, StringComparison.Ordinal));
        Assert.DoesNotContain(mapped, path => path.EndsWith(Redis, StringComparison.Ordinal));
    }

    private async Task<HashSet<string>> MappedAfterCallsAsync(Action<IDictionary<string, string?>> configure)
    {
        var directory = Directory.CreateTempSubdirectory("gw-e2e-loads-");
        try
        {
            var config = new GatewayConfig()
                .Model("load-model", [sim.Deployment("openai", "openai-1")])
                .Set("store:kind", "sqlite")
                .Set("store:path", Path.Combine(directory.FullName, "gateway.db"))
                .Set("cache:enabled", "true")
                .Build();
            configure(config);
            await using var gateway = await GatewayProcess.StartAsync(config, directory.FullName);
            var client = new Completion.CompletionClient(gateway.Channel);
            for (var i = 0; i < 2; i++)
            {
                // The same request twice, through the cache's store and lookup paths.
                var response = await client.CompleteAsync(Requests.Chat("load-model", "Library loads."));
                Assert.False(string.IsNullOrEmpty(response.Message.Content));
            }

            using var stream = client.StreamComplete(Requests.Chat("load-model", "Library loads, streamed."));
            while (await stream.ResponseStream.MoveNext(CancellationToken.None))
            {
            }

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.HttpPort}") };
            Assert.Equal("ok", (await http.GetStringAsync("/healthz")).Trim());

            return File.ReadLines($"/proc/{gateway.ProcessId}/maps")
                .Select(static line => line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries))
                .Where(static fields => fields.Length == 6)
                .Select(static fields => fields[5].Trim())
                .ToHashSet(StringComparer.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
