using System.Text;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Simulator.Internal;

/// <summary>Keeps credentials out of the request log.</summary>
internal static class Redaction
{
    public const string Redacted = "[redacted]";

    private static readonly HashSet<string> SecretHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key", "cookie", "set-cookie",
    };

    public static bool IsSecret(string name) => SecretHeaders.Contains(name);

    public static IReadOnlyDictionary<string, string> Headers(IHeaderDictionary headers)
    {
        var result = new Dictionary<string, string>(headers.Count, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in headers)
        {
            result[name.ToLowerInvariant()] = IsSecret(name) ? Redacted : value.ToString();
        }

        return result;
    }

    /// <summary>Path plus query, with the Gemini <c>key</c> parameter redacted.</summary>
    public static string PathAndQuery(HttpRequest request)
    {
        var path = request.Path.Value ?? "/";
        if (!request.QueryString.HasValue)
        {
            return path;
        }

        var sb = new StringBuilder(path);
        var first = true;
        foreach (var (name, values) in request.Query)
        {
            foreach (var value in values)
            {
                sb.Append(first ? '?' : '&').Append(Uri.EscapeDataString(name)).Append('=')
                    .Append(string.Equals(name, "key", StringComparison.OrdinalIgnoreCase) ? Redacted : Uri.EscapeDataString(value ?? ""));
                first = false;
            }
        }

        return sb.ToString();
    }
}
