using System.Collections.Concurrent;

namespace Gateway.Grpc.Tests.TestInfrastructure;

/// <summary>What one HTTP exchange carried on the wire, as far as headers go.</summary>
internal sealed record RecordedExchange(string Path, IReadOnlyDictionary<string, string> RequestHeaders, IReadOnlyDictionary<string, string> ResponseHeaders);

/// <summary>
/// Wraps the channel's handler and records request and response headers, to check what the
/// client put on the wire (grpc-encoding, grpc-timeout, authorization) and what came back.
/// </summary>
internal sealed class RecordingHttpHandler() : DelegatingHandler(new SocketsHttpHandler { UseProxy = false, EnableMultipleHttp2Connections = true })
{
    private readonly ConcurrentQueue<RecordedExchange> _exchanges = new();

    public IReadOnlyCollection<RecordedExchange> Exchanges => _exchanges;

    public RecordedExchange Last(string path) => _exchanges.Last(e => e.Path == path);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var requestHeaders = Flatten(request.Headers.Concat(request.Content?.Headers ?? Enumerable.Empty<KeyValuePair<string, IEnumerable<string>>>()));
        var response = await base.SendAsync(request, cancellationToken);
        var responseHeaders = Flatten(response.Headers.Concat(response.Content.Headers));
        _exchanges.Enqueue(new RecordedExchange(request.RequestUri!.AbsolutePath, requestHeaders, responseHeaders));
        return response;
    }

    private static Dictionary<string, string> Flatten(IEnumerable<KeyValuePair<string, IEnumerable<string>>> headers)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in headers)
        {
            result[name] = string.Join(",", values);
        }

        return result;
    }
}
