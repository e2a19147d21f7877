using System.IO.Compression;

namespace Gateway.Grpc.Protocol.Compression;

/// <summary>A message coding named in grpc-encoding (PROTOCOL-HTTP2 "Message-Encoding").</summary>
public interface ICompressionProvider
{
    string EncodingName { get; }

    Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel);

    Stream CreateDecompressionStream(Stream stream);
}

public sealed class GzipCompressionProvider(CompressionLevel defaultLevel = CompressionLevel.Fastest) : ICompressionProvider
{
    public string EncodingName => "gzip";

    public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel)
        => new GZipStream(stream, compressionLevel ?? defaultLevel, leaveOpen: true);

    public Stream CreateDecompressionStream(Stream stream) => new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
}

/// <summary>gRPC's "deflate" is the zlib format (RFC 1950), not raw deflate.</summary>
public sealed class DeflateCompressionProvider(CompressionLevel defaultLevel = CompressionLevel.Fastest) : ICompressionProvider
{
    public string EncodingName => "deflate";

    public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel)
        => new ZLibStream(stream, compressionLevel ?? defaultLevel, leaveOpen: true);

    public Stream CreateDecompressionStream(Stream stream) => new ZLibStream(stream, CompressionMode.Decompress, leaveOpen: true);
}

public static class CompressionProviders
{
    public static IReadOnlyList<ICompressionProvider> Default { get; } = [new GzipCompressionProvider(), new DeflateCompressionProvider()];

    internal static ICompressionProvider? Find(IReadOnlyList<ICompressionProvider> providers, string name)
    {
        for (var i = 0; i < providers.Count; i++)
        {
            if (string.Equals(providers[i].EncodingName, name, StringComparison.Ordinal))
            {
                return providers[i];
            }
        }

        return null;
    }

    internal static string AcceptEncodingValue(IReadOnlyList<ICompressionProvider> providers)
    {
        var names = new string[providers.Count + 1];
        names[0] = "identity";
        for (var i = 0; i < providers.Count; i++)
        {
            names[i + 1] = providers[i].EncodingName;
        }

        return string.Join(',', names);
    }
}
