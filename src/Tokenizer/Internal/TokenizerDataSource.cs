using System.Security.Cryptography;

namespace Gateway.Grpc.Tokenizer.Internal;

/// <summary>
/// Finds the vocabulary file of an encoding and checks it against the pinned SHA-256.
/// <para>Where it looks, in order:</para>
/// <list type="number">
/// <item>the directory named by <c>GATEWAY_TOKENIZER_DATA</c>, when that variable is set (then it
/// must hold the file: a set variable that points nowhere is an error, not a silent fallback);</item>
/// <item>the assembly's embedded resources (present when <c>scripts/fetch-tokenizer-data.sh</c>
/// ran before the build);</item>
/// <item><c>tokenizer-data/&lt;encoding&gt;.json</c> beside the application.</item>
/// </list>
/// The file is the <c>tiktoken@1.0.22</c> npm package's <c>encoders/&lt;encoding&gt;.json</c>, unchanged.
/// </summary>
internal enum DataFailure
{
    None,
    Missing,
    Mismatch,
}

internal static class TokenizerDataSource
{
    public const string EnvironmentVariable = "GATEWAY_TOKENIZER_DATA";
    public const string DirectoryName = "tokenizer-data";
    private const string ResourcePrefix = "Gateway.Grpc.Tokenizer.Data.";

    private static readonly Lazy<IReadOnlyDictionary<string, string>> PinnedChecksums = new(LoadChecksums);

    public static IReadOnlyDictionary<string, string> Checksums => PinnedChecksums.Value;

    public static bool TryLoad(string encodingName, string? dataDirectory, out byte[] data, out string source, out string error)
        => TryLoad(encodingName, dataDirectory, out data, out source, out error, out _);

    public static bool TryLoad(string encodingName, string? dataDirectory, out byte[] data, out string source, out string error, out DataFailure failure)
    {
        data = [];
        source = "";
        failure = DataFailure.Missing;
        var fileName = encodingName + ".json";
        if (!string.IsNullOrEmpty(dataDirectory))
        {
            var path = Path.Combine(dataDirectory, fileName);
            if (!File.Exists(path))
            {
                error = $"{EnvironmentVariable} is '{dataDirectory}', but it has no {fileName}. Point it at a directory holding the tiktoken@1.0.22 encoders/{fileName}, or unset it to use the embedded data.";
                return false;
            }

            source = path;
            data = File.ReadAllBytes(path);
        }
        else if (ReadResource(ResourcePrefix + fileName) is { } embedded)
        {
            source = $"embedded resource {ResourcePrefix}{fileName}";
            data = embedded;
        }
        else
        {
            var path = Path.Combine(AppContext.BaseDirectory, DirectoryName, fileName);
            if (!File.Exists(path))
            {
                error = $"No vocabulary for '{encodingName}': it is not embedded in Gateway.Grpc.Tokenizer (run scripts/fetch-tokenizer-data.sh, then build again), "
                    + $"{EnvironmentVariable} is not set, and {path} does not exist.";
                return false;
            }

            source = path;
            data = File.ReadAllBytes(path);
        }

        if (!Verify(encodingName, data, source, out error))
        {
            failure = DataFailure.Mismatch;
            return false;
        }

        failure = DataFailure.None;
        return true;
    }

    private static bool Verify(string encodingName, byte[] data, string source, out string error)
    {
        if (!Checksums.TryGetValue(encodingName + ".json", out var expected))
        {
            error = $"No pinned checksum for {encodingName}.json; only {string.Join(", ", Checksums.Keys)} are supported.";
            return false;
        }

        var actual = Convert.ToHexStringLower(SHA256.HashData(data));
        if (!string.Equals(actual, expected, StringComparison.Ordinal))
        {
            error = $"{source} has SHA-256 {actual}, but the tokenizer is pinned to {expected} (tiktoken@1.0.22). Re-run scripts/fetch-tokenizer-data.sh or fix {EnvironmentVariable}.";
            return false;
        }

        error = "";
        return true;
    }

    private static byte[]? ReadResource(string name)
    {
        using var stream = typeof(TokenizerDataSource).Assembly.GetManifestResourceStream(name);
        if (stream is null)
        {
            return null;
        }

        var buffer = new byte[stream.Length];
        stream.ReadExactly(buffer);
        return buffer;
    }

    /// <summary>Parses the embedded <c>Data/tokenizer-data.sha256</c> (sha256sum format: "hex  file").</summary>
    private static IReadOnlyDictionary<string, string> LoadChecksums()
    {
        var bytes = ReadResource(ResourcePrefix + "tokenizer-data.sha256")
            ?? throw new InvalidOperationException("Gateway.Grpc.Tokenizer was built without its Data/tokenizer-data.sha256 resource.");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in System.Text.Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', 2, StringSplitOptions.TrimEntries);
            if (parts.Length == 2)
            {
                result[parts[1].TrimStart('*')] = parts[0].ToLowerInvariant();
            }
        }

        return result;
    }
}
