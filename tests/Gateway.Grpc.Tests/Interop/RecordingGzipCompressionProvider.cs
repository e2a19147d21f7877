using System.IO.Compression;
using Grpc.Core;
using Grpc.Net.Compression;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Tests.Interop;

/// <summary>
/// grpc-dotnet's gzip provider, recording on the current request that a message was
/// decompressed. grpc-dotnet asks the provider for a decompression stream exactly for the
/// messages whose compressed flag is 1 (PROTOCOL-HTTP2 "Compressed-Flag"), so this tells
/// TestService's expect_compressed checks what the flag of the message just read was, which
/// <see cref="ServerCallContext"/> does not expose.
/// </summary>
internal sealed class RecordingGzipCompressionProvider(CompressionLevel level) : ICompressionProvider
{
    private static readonly object DecompressedKey = new();
    private readonly GzipCompressionProvider _inner = new(level);
    // Reads the request's HttpContext from the execution context (AddHttpContextAccessor sets it).
    private readonly HttpContextAccessor _accessor = new();

    public string EncodingName => _inner.EncodingName;

    public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel) => _inner.CreateCompressionStream(stream, compressionLevel);

    public Stream CreateDecompressionStream(Stream stream)
    {
        if (_accessor.HttpContext is { } httpContext)
        {
            httpContext.Items[DecompressedKey] = true;
        }

        return _inner.CreateDecompressionStream(stream);
    }

    /// <summary>Whether the message read last (since the previous call) arrived compressed; clears the record.</summary>
    public static bool TakeDecompressed(ServerCallContext context) => context.GetHttpContext().Items.Remove(DecompressedKey);
}
