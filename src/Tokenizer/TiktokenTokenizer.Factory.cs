using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.IO.Compression;
using System.Reflection;
using Gateway.Grpc.Tokenizer.Internal;
using MlTiktokenTokenizer = Microsoft.ML.Tokenizers.TiktokenTokenizer;

namespace Gateway.Grpc.Tokenizer;

public sealed partial class TiktokenTokenizer
{
    // Lazy, so concurrent first calls load an encoding once; a load that threw stays cached, as it would fail again.
    private static readonly ConcurrentDictionary<string, Lazy<TiktokenTokenizer>> Cache = new(StringComparer.Ordinal);

    /// <summary>The encodings this build can load: <c>o200k_base</c> and <c>cl100k_base</c>.</summary>
    public static IReadOnlyList<string> SupportedEncodings { get; } = [ModelEncodings.O200kBase, ModelEncodings.Cl100kBase];

    /// <summary>
    /// The encoding tiktoken uses for <paramref name="modelName"/> (e.g. <c>gpt-4o</c> → <c>o200k_base</c>),
    /// ignoring a provider prefix (<c>openai/</c>) and a fine-tune prefix (<c>ft:</c>), or null when the
    /// model is unknown or uses an encoding not shipped here.
    /// </summary>
    public static string? GetEncodingNameForModel(string modelName) => ModelEncodings.GetEncodingName(modelName);

    /// <summary>The shared tokenizer for an encoding.</summary>
    /// <exception cref="ArgumentException">The encoding is not one of <see cref="SupportedEncodings"/>.</exception>
    /// <exception cref="FileNotFoundException">The Microsoft.ML.Tokenizers data package of the encoding is not deployed with the application.</exception>
    public static TiktokenTokenizer CreateForEncoding(string encodingName)
    {
        ArgumentNullException.ThrowIfNull(encodingName);

        // Shared counters look their tokenizer up at every count: a loaded one comes back without the checks below.
        if (Cache.TryGetValue(encodingName, out var loaded) && loaded.IsValueCreated)
        {
            return loaded.Value;
        }

        if (!SupportedEncodings.Contains(encodingName, StringComparer.Ordinal))
        {
            throw new ArgumentException($"Unknown encoding '{encodingName}'; supported: {string.Join(", ", SupportedEncodings)}.", nameof(encodingName));
        }

        return Cache.GetOrAdd(encodingName, static name => new Lazy<TiktokenTokenizer>(() => Load(name))).Value;
    }

    /// <summary>
    /// Lets go of the shared tokenizers' vocabularies (about 40 MB of managed heap for o200k_base,
    /// 20 MB for cl100k_base) so the next full GC can free them; the next count loads them again
    /// (about half a second of CPU for o200k_base). Counts already running finish on the tables
    /// they hold. Returns how many encodings were released. The gateway calls it once it has been
    /// idle for a while (<c>tokenizerIdleSeconds</c>); a tokenizer the library itself caches (see
    /// <see cref="Load"/>) stays.
    /// </summary>
    public static int ReleaseShared()
    {
        var released = 0;
        foreach (var entry in Cache)
        {
            if (entry.Value.IsValueCreated && entry.Value.Value.Releasable && Cache.TryRemove(entry))
            {
                released++;
            }
        }

        return released;
    }

    /// <summary>
    /// Loads an encoding. Microsoft.ML.Tokenizers' <c>CreateForEncoding</c> keeps every vocabulary
    /// it loads in a static cache for the life of the process; reading the same vocabulary from its
    /// Data package's resource and handing it to <c>CreateForModel(model, stream)</c> gives the
    /// same tokenizer (the model's regex and special tokens, the package's ranks) whose tables
    /// belong to this instance alone, so <see cref="ReleaseShared"/> can give them back. When the
    /// resource is not where this expects it, the library's own path is taken (not releasable).
    /// </summary>
    private static TiktokenTokenizer Load(string encodingName)
    {
        var (package, model) = encodingName == ModelEncodings.O200kBase
            ? ("Microsoft.ML.Tokenizers.Data.O200kBase", "gpt-4o")
            : ("Microsoft.ML.Tokenizers.Data.Cl100kBase", "gpt-4");
        using var compressed = OpenPackagedVocabulary(package, $"{encodingName}.tiktoken.deflate");
        if (compressed is null)
        {
            return new TiktokenTokenizer(encodingName, MlTiktokenTokenizer.CreateForEncoding(encodingName), releasable: false);
        }

        using var vocabulary = new DeflateStream(compressed, CompressionMode.Decompress);
        return new TiktokenTokenizer(encodingName, MlTiktokenTokenizer.CreateForModel(model, vocabulary), releasable: true);
    }

    private static Stream? OpenPackagedVocabulary(string package, string resource)
    {
        try
        {
            return Assembly.Load(new AssemblyName(package)).GetManifestResourceStream(resource);
        }
        catch (Exception ex) when (ex is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            return null;
        }
    }

    /// <summary>The shared tokenizer for the encoding tiktoken uses for <paramref name="modelName"/>.</summary>
    /// <exception cref="ArgumentException">No supported encoding is known for the model.</exception>
    public static TiktokenTokenizer CreateForModel(string modelName)
    {
        ArgumentNullException.ThrowIfNull(modelName);
        var encoding = GetEncodingNameForModel(modelName)
            ?? throw new ArgumentException($"No tiktoken encoding is known for model '{modelName}'; call CreateForEncoding(\"o200k_base\") for an approximation.", nameof(modelName));
        return CreateForEncoding(encoding);
    }

    /// <summary>Like <see cref="CreateForEncoding"/>, but reports an unknown encoding or a tokenizer that cannot be loaded as <paramref name="error"/> instead of throwing.</summary>
    public static bool TryCreateForEncoding(string encodingName, [NotNullWhen(true)] out TiktokenTokenizer? tokenizer, [NotNullWhen(false)] out string? error)
    {
        try
        {
            tokenizer = CreateForEncoding(encodingName);
            error = null;
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or IOException or InvalidOperationException or NotSupportedException or TypeLoadException)
        {
            tokenizer = null;
            error = $"{ex.GetType().Name}: {ex.Message}";
            return false;
        }
    }

    /// <summary>Like <see cref="CreateForModel"/>, but reports an unknown model or a tokenizer that cannot be loaded as <paramref name="error"/> instead of throwing.</summary>
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
}
