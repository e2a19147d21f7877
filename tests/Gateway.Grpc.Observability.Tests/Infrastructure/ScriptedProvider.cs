using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Gateway.Grpc.Adapters;
using Gateway.V1;

namespace Gateway.Grpc.Observability.Tests.Infrastructure;

/// <summary>
/// A provider whose deployments fail or answer as scripted (in order, the last repeating), and
/// that records the trace context it ran under; optionally it calls an HTTP "upstream" the way a
/// real adapter does, so tests can see what traceparent reaches the provider.
/// </summary>
internal sealed class ScriptedProvider : IProviderAdapter
{
    public const string Name = "fake";

    private readonly ConcurrentDictionary<string, ConcurrentQueue<ProviderErrorKind?>> _scripts = new();
    private readonly ConcurrentQueue<(string Deployment, string? ActivityId)> _calls = new();

    public string Provider => Name;

    /// <summary>Deployments that answer only after this long (or when cancelled, e.g. by a winning hedge).</summary>
    public ConcurrentDictionary<string, TimeSpan> Delays { get; } = new();

    /// <summary>When set, every call GETs this URL first (with a plain HttpClient, as adapters do).</summary>
    public Uri? Upstream { get; set; }

    public HttpClient HttpClient { get; } = new();

    public IReadOnlyList<(string Deployment, string? ActivityId)> Calls => _calls.ToArray();

    /// <summary>null: answer; a kind: fail with it.</summary>
    public void Script(string deployment, params ProviderErrorKind?[] outcomes) => _scripts[deployment] = new ConcurrentQueue<ProviderErrorKind?>(outcomes);

    public async Task<CompletionResponse> CompleteAsync(ProviderCall call, CancellationToken cancellationToken)
    {
        await BeginAsync(call, cancellationToken);
        return new CompletionResponse
        {
            Model = call.Deployment.UpstreamModel + "-2025",
            Provider = Name,
            Message = new Message { Role = Role.Assistant, Content = "The answer is forty-two." },
            FinishReason = FinishReason.Stop,
            Usage = new Usage { InputTokens = 11, OutputTokens = 7 },
        };
    }

    public async IAsyncEnumerable<CompletionChunk> StreamAsync(ProviderCall call, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await BeginAsync(call, cancellationToken);
        foreach (var word in new[] { "The ", "answer ", "is ", "forty-two." })
        {
            yield return new CompletionChunk { Delta = new TextDelta { Text = word } };
        }

        yield return new CompletionChunk { Usage = new Usage { InputTokens = 11, OutputTokens = 4 } };
        yield return new CompletionChunk { Finish = new Finish { Reason = FinishReason.Stop } };
    }

    private async Task BeginAsync(ProviderCall call, CancellationToken cancellationToken)
    {
        _calls.Enqueue((call.Deployment.Name, Activity.Current?.Id));
        if (Delays.TryGetValue(call.Deployment.Name, out var delay))
        {
            await Task.Delay(delay, cancellationToken);
        }

        if (Upstream is { } upstream)
        {
            using var response = await HttpClient.GetAsync(upstream, cancellationToken);
        }

        if (_scripts.TryGetValue(call.Deployment.Name, out var script))
        {
            var outcome = script.Count > 1 && script.TryDequeue(out var next) ? next : script.TryPeek(out var last) ? last : null;
            if (outcome is { } kind)
            {
                throw new ProviderException(kind, $"Scripted {kind} on {call.Deployment.Name}.");
            }
        }
    }
}
