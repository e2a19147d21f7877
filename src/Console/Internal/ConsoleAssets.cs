using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Console.Internal;

/// <summary>The console's static files (HTML, CSS, JS, the vendored Chart.js), embedded in the assembly and served from memory.</summary>
internal sealed class ConsoleAssets
{
    private const string Prefix = "console/";

    private readonly FrozenDictionary<string, (byte[] Bytes, string ContentType, string ETag)> _files;

    public ConsoleAssets()
    {
        var assembly = typeof(ConsoleAssets).Assembly;
        var files = new Dictionary<string, (byte[], string, string)>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(Prefix, StringComparison.Ordinal))
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var bytes = copy.ToArray();
            // Resource names use the OS separator of the build machine for RecursiveDir.
            var path = name[Prefix.Length..].Replace('\\', '/');
            files[path] = (bytes, ContentTypeOf(path), "\"" + Convert.ToHexStringLower(SHA256.HashData(bytes))[..16] + "\"");
        }

        _files = files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public bool Contains(string path) => _files.ContainsKey(path);

    /// <summary>Writes a file, or 404. Assets are the same for everyone and hold no data, so they are public.</summary>
    public IResult Serve(HttpContext context, string path)
    {
        if (!_files.TryGetValue(path, out var file))
        {
            return Results.NotFound();
        }

        ConsoleHeaders.Apply(context.Response);
        if (context.Request.Headers.IfNoneMatch == file.ETag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        context.Response.Headers.ETag = file.ETag;
        context.Response.Headers.CacheControl = "no-cache";
        return Results.Bytes(file.Bytes, file.ContentType);
    }

    private static string ContentTypeOf(string path) => Path.GetExtension(path) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        _ => "text/plain; charset=utf-8",
    };
}

/// <summary>Headers on every console response: no framing, no sniffing, no referrer, and a CSP that allows only the console's own files.</summary>
internal static class ConsoleHeaders
{
    public const string ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    public static void Apply(HttpResponse response)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
    }
}
