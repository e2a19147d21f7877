using System.Globalization;
using System.Runtime.CompilerServices;
using Gateway.Grpc.Adapters;
using Gateway.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Grpc.Rest.Tests.Infrastructure;

/// <summary>
/// The gateway with its provider replaced by <see cref="ScriptedFailureProvider"/>, so upstream
/// failures travel the real pipeline: adapter -> dispatcher -> CompletionService -> REST.
/// </summary>
public sealed class FailingGatewayFixture : GatewayFixture
{
    protected override Action<IServiceCollection>? ConfigureServices => static services =>
    {
        services.RemoveAll<IProviderAdapter>();
        services.AddSingleton<IProviderAdapter, ScriptedFailureProvider>();
    };

    /// <summary>
    /// One attempt, no circuit breaker: each test sees its own scripted failure, not a retry's
    /// or a circuit opened by the tests before it.
    /// </summary>
    protected override IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
    {
        ["models:0:name"] = "sim-small",
        ["models:0:deployments:0:name"] = "sim-small-1",
        ["models:0:deployments:0:provider"] = "simulated",
        ["models:0:retry:maxAttempts"] = "1",
        ["models:0:circuitBreaker:enabled"] = "false",
    };
}

/// <summary>
/// Answers as the "simulated" provider but fails as the request's metadata says:
/// <c>fail.kind</c> (a ProviderErrorKind name like rate_limited, or "crash" for a bug),
/// <c>fail.retry_after_ms</c>, <c>fail.after_deltas</c> (stream some text first).
/// </summary>
internal sealed class ScriptedFailureProvider : IProviderAdapter
{
    public const string CrashSecret = "secret-detail-that-must-not-leak";

    public string Provider => "simulated";

    public Task<CompletionResponse> CompleteAsync(ProviderCall call, CancellationToken cancellationToken)
        => throw Failure(call.Request);

    public async IAsyncEnumerable<CompletionChunk> StreamAsync(ProviderCall call, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var deltas = call.Request.Metadata.TryGetValue("fail.after_deltas", out var n) ? int.Parse(n, CultureInfo.InvariantCulture) : 0;
        for (var i = 0; i < deltas; i++)
        {
            await Task.Yield();
            yield return new CompletionChunk { Delta = new TextDelta { Text = "word" + i + " " } };
        }

        throw Failure(call.Request);
    }

    private static Exception Failure(CompletionRequest request)
    {
        var kind = request.Metadata.TryGetValue("fail.kind", out var k) ? k : "server_error";
        if (kind == "crash")
        {
            return new InvalidOperationException("Null pointer in adapter: " + CrashSecret);
        }

        TimeSpan? retryAfter = request.Metadata.TryGetValue("fail.retry_after_ms", out var ms) ? TimeSpan.FromMilliseconds(int.Parse(ms, CultureInfo.InvariantCulture)) : null;
        foreach (var value in Enum.GetValues<ProviderErrorKind>())
        {
            if (ProviderException.KindToName(value) == kind)
            {
                return new ProviderException(value, "scripted " + kind, retryAfter);
            }
        }

        throw new ArgumentException("unknown fail.kind " + kind);
    }
}

[CollectionDefinition(Name)]
public sealed class FailingGatewayCollection : ICollectionFixture<FailingGatewayFixture>
{
    public const string Name = "failing-gateway";
}
