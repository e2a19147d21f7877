using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;

namespace Gateway.Grpc.Tests.TestInfrastructure;

/// <summary>A response read by hand: status, headers, trailers and the raw body.</summary>
internal sealed record RawResponse(HttpStatusCode HttpStatus, Version Version, IReadOnlyDictionary<string, string> Headers, IReadOnlyDictionary<string, string> Trailers, byte[] Body)
{
    /// <summary>grpc-status from the trailers, or from the headers for Trailers-Only.</summary>
    public int? GrpcStatus => (Trailers.TryGetValue("grpc-status", out var t) ? t : Headers.GetValueOrDefault("grpc-status")) is { } s ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : null;

    public string? GrpcMessage => Trailers.TryGetValue("grpc-status", out _) ? Trailers.GetValueOrDefault("grpc-message") : Headers.GetValueOrDefault("grpc-message");

    public override string ToString()
        => $"HTTP {(int)HttpStatus} HTTP/{Version}; headers: {string.Join(", ", Headers.Select(h => $"{h.Key}={h.Value}"))}; trailers: {string.Join(", ", Trailers.Select(h => $"{h.Key}={h.Value}"))}; body {Body.Length} bytes";
}

/// <summary>Hand-made gRPC requests over HttpClient, for bytes our client would never send.</summary>
internal static class RawGrpc
{
    public static byte[] Frame(byte flag, byte[] payload)
    {
        var framed = new byte[5 + payload.Length];
        framed[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(framed, 5);
        return framed;
    }

    public static async Task<RawResponse> SendAsync(
        HttpClient client,
        Uri address,
        string path,
        byte[] body,
        string contentType = "application/grpc",
        IEnumerable<KeyValuePair<string, string>>? headers = null,
        Version? version = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(address, path))
        {
            Version = version ?? HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        request.Headers.TryAddWithoutValidation("te", "trailers");
        foreach (var (name, value) in headers ?? [])
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        return new RawResponse(
            response.StatusCode,
            response.Version,
            Flatten(response.Headers.Concat(response.Content.Headers)),
            Flatten(response.TrailingHeaders),
            bytes);
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
