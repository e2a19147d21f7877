using System.Diagnostics.CodeAnalysis;
using Gateway.Grpc.Tokenizer.Internal;

namespace Gateway.Grpc.Tokenizer;

public sealed partial class TiktokenTokenizer
{
    /// <summary>Name of the environment variable that points at a directory of vocabulary files, overriding the embedded ones.</summary>
    public const string DataDirectoryVariable = TokenizerDataSource.EnvironmentVariable;

    private static readonly Lock CacheLock = new();
    private static readonly Dictionary<string, TiktokenTokenizer> Cache = new(StringComparer.Ordinal);

    /// <summary>The encodings this build can load: <c>o200k_base</c> and <c>cl100k_base</c>.</summary>
    public static IReadOnlyList<string> SupportedEncodings { get; } = [ModelEncodings.O200kBase, ModelEncodings.Cl100kBase];

    /// <summary>
    /// The encoding tiktoken uses for <paramref name="modelName"/> (e.g. <c>gpt-4o</c> → <c>o200k_base</c>),
    /// or null when the model is unknown or uses an encoding not shipped here.
    /// </summary>
    public static string? GetEncodingNameForModel(string modelName) => ModelEncodings.GetEncodingName(modelName);

    /// <summary>The shared tokenizer for an encoding.</summary>
    /// <exception cref="ArgumentException">The encoding is not one of <see cref="SupportedEncodings"/>.</exception>
    /// <exception cref="FileNotFoundException">The vocabulary is neither embedded nor found through <see cref="DataDirectoryVariable"/>.</exception>
    /// <exception cref="InvalidDataException">The vocabulary found does not match its pinned checksum or cannot be parsed.</exception>
    public static TiktokenTokenizer CreateForEncoding(string encodingName)
    {
        ArgumentNullException.ThrowIfNull(encodingName);
        if (!SupportedEncodings.Contains(encodingName, StringComparer.Ordinal))
        {
            throw new ArgumentException($"Unknown encoding '{encodingName}'; supported: {string.Join(", ", SupportedEncodings)}.", nameof(encodingName));
        }

        lock (CacheLock)
        {
            if (Cache.TryGetValue(encodingName, out var cached))
            {
                return cached;
            }
        }

        var dataDirectory = Environment.GetEnvironmentVariable(TokenizerDataSource.EnvironmentVariable);
        if (!TokenizerDataSource.TryLoad(encodingName, dataDirectory, out var data, out var source, out var error, out var failure))
        {
            throw failure == DataFailure.Mismatch
                ? new InvalidDataException(error)
                : new FileNotFoundException(error, encodingName + ".json");
        }

        var tokenizer = new TiktokenTokenizer(encodingName, EncoderFile.Parse(data, source));
        lock (CacheLock)
        {
            // Another thread may have loaded it meanwhile; keep one instance.
            return Cache.TryAdd(encodingName, tokenizer) ? tokenizer : Cache[encodingName];
        }
    }

    /// <summary>The shared tokenizer for the encoding tiktoken uses for <paramref name="modelName"/>.</summary>
    /// <exception cref="ArgumentException">No supported encoding is known for the model.</exception>
    /// <exception cref="FileNotFoundException">The vocabulary is missing (see <see cref="CreateForEncoding"/>).</exception>
    public static TiktokenTokenizer CreateForModel(string modelName)
    {
        ArgumentNullException.ThrowIfNull(modelName);
        var encoding = GetEncodingNameForModel(modelName)
            ?? throw new ArgumentException($"No tiktoken encoding is known for model '{modelName}'; call CreateForEncoding(\"o200k_base\") for an approximation.", nameof(modelName));
        return CreateForEncoding(encoding);
    }

    /// <summary>Like <see cref="CreateForEncoding"/>, but reports a missing or bad vocabulary as <paramref name="error"/> instead of throwing.</summary>
    public static bool TryCreateForEncoding(string encodingName, [NotNullWhen(true)] out TiktokenTokenizer? tokenizer, [NotNullWhen(false)] out string? error)
    {
        try
        {
            tokenizer = CreateForEncoding(encodingName);
            error = null;
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or InvalidDataException or NotSupportedException)
        {
            tokenizer = null;
            error = ex.Message;
            return false;
        }
    }

    /// <summary>Like <see cref="CreateForModel"/>, but reports an unknown model or a missing vocabulary as <paramref name="error"/> instead of throwing.</summary>
    public static bool TryCreateForModel(string modelName, [NotNullWhen(true)] out TiktokenTokenizer? tokenizer, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(modelName);
        var encoding = GetEncodingNameForModel(modelName);
        if (encoding is null)
        {
            tokenizer = null;
            error = $"No tiktoken encoding is known for model '{modelName}'.";
            return false;
        }

        return TryCreateForEncoding(encoding, out tokenizer, out error);
    }

    /// <summary>
    /// Loads a vocabulary in the <c>tiktoken</c> npm package's format (<c>encoders/&lt;name&gt;.json</c>)
    /// from a stream, without the pinned-checksum check; for tests and custom vocabularies. Not cached.
    /// </summary>
    public static TiktokenTokenizer Create(Stream encoderJson, string encodingName)
    {
        ArgumentNullException.ThrowIfNull(encoderJson);
        ArgumentException.ThrowIfNullOrEmpty(encodingName);
        using var copy = new MemoryStream();
        encoderJson.CopyTo(copy);
        return new TiktokenTokenizer(encodingName, EncoderFile.Parse(copy.GetBuffer().AsSpan(0, (int)copy.Length), encodingName));
    }
}
