using System.Buffers;
using System.Collections.Frozen;
using Gateway.Grpc.Tokenizer.Internal;
using MlTiktokenTokenizer = Microsoft.ML.Tokenizers.TiktokenTokenizer;

namespace Gateway.Grpc.Tokenizer;

/// <summary>How text that spells a special token (such as <c>&lt;|endoftext|&gt;</c>) is encoded.</summary>
public enum SpecialTokenHandling
{
    /// <summary>As ordinary text, like tiktoken's <c>encode_ordinary</c>: user input can never inject a control token. The default.</summary>
    EncodeAsText = 0,

    /// <summary>Every special token of the encoding becomes its single id, like tiktoken's <c>encode(text, allowed_special="all")</c>.</summary>
    Recognize = 1,
}

/// <summary>
/// OpenAI's <c>o200k_base</c> (gpt-4o, gpt-4.1, gpt-5, o-series) and <c>cl100k_base</c> (gpt-4,
/// gpt-3.5-turbo, text-embedding-3) encodings, with the same token ids as tiktoken. Instances are
/// immutable and thread-safe; the factory methods return one shared instance per encoding.
/// </summary>
/// <remarks>
/// The byte-pair encoding and the vocabularies are Microsoft.ML.Tokenizers' <c>TiktokenTokenizer</c>
/// and its <c>Data.O200kBase</c> / <c>Data.Cl100kBase</c> packages. On its own the library differs
/// from tiktoken in three ways, which this type corrects around it: special-token text is encoded as
/// text unless asked otherwise (the library always recognizes it), a lone UTF-16 surrogate counts as
/// U+FFFD (tiktoken sees UTF-8, where it already is), and characters outside the BMP are split as one
/// code point (see <see cref="PreTokenizerView"/>). Text with none of these, almost all of it, goes
/// to the library unchanged.
/// </remarks>
public sealed partial class TiktokenTokenizer
{
    private readonly MlTiktokenTokenizer _inner;
    private readonly Microsoft.ML.Tokenizers.PreTokenizer _preTokenizer;
    private readonly FrozenDictionary<string, int> _specialTokens;
    private readonly FrozenDictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _specialLookup;
    private readonly SearchValues<string> _specialTexts;
    private readonly FrozenSet<int> _specialIds;
    private readonly Lazy<int> _ordinaryTokenCount;

    private TiktokenTokenizer(string encodingName, MlTiktokenTokenizer inner, bool releasable)
    {
        EncodingName = encodingName;
        Releasable = releasable;
        _inner = inner;
        _preTokenizer = inner.PreTokenizer ?? throw new InvalidOperationException($"Microsoft.ML.Tokenizers returned a {encodingName} tokenizer without a pre-tokenizer.");
        _specialTokens = (inner.SpecialTokens ?? new Dictionary<string, int>()).ToFrozenDictionary(StringComparer.Ordinal);
        _specialLookup = _specialTokens.GetAlternateLookup<ReadOnlySpan<char>>();
        _specialTexts = SearchValues.Create([.. _specialTokens.Keys], StringComparison.Ordinal);
        _specialIds = _specialTokens.Values.ToFrozenSet();
        _ordinaryTokenCount = new Lazy<int>(FindOrdinaryTokenCount);
    }

    /// <summary>The encoding's name, e.g. <c>o200k_base</c>.</summary>
    public string EncodingName { get; }

    /// <summary>True when this instance alone holds its vocabulary, so <see cref="ReleaseShared"/> can let it go.</summary>
    internal bool Releasable { get; }

    /// <summary>Special tokens and their ids.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens => _specialTokens;

    /// <summary>Encodes <paramref name="text"/> to token ids.</summary>
    public IReadOnlyList<int> EncodeToIds(string text, SpecialTokenHandling specialTokens = SpecialTokenHandling.EncodeAsText)
    {
        ArgumentNullException.ThrowIfNull(text);
        return EncodeToIds(text.AsSpan(), specialTokens);
    }

    /// <summary>Encodes <paramref name="text"/> to token ids.</summary>
    public IReadOnlyList<int> EncodeToIds(ReadOnlySpan<char> text, SpecialTokenHandling specialTokens = SpecialTokenHandling.EncodeAsText)
    {
        if (IsPlain(text, specialTokens))
        {
            // The library's own list, not a copy.
            return _inner.EncodeToIds(text);
        }

        var ids = new List<int>(Math.Max(4, text.Length / 3));
        Encode(text, specialTokens, ids);
        return ids;
    }

    /// <summary>Appends the token ids of <paramref name="text"/> to <paramref name="destination"/>.</summary>
    public void EncodeToIds(ReadOnlySpan<char> text, List<int> destination, SpecialTokenHandling specialTokens = SpecialTokenHandling.EncodeAsText)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Encode(text, specialTokens, destination);
    }

    /// <summary>Counts the tokens of <paramref name="text"/> without materializing them.</summary>
    public int CountTokens(string text, SpecialTokenHandling specialTokens = SpecialTokenHandling.EncodeAsText)
    {
        ArgumentNullException.ThrowIfNull(text);
        return CountTokens(text.AsSpan(), specialTokens);
    }

    /// <summary>Counts the tokens of <paramref name="text"/> without materializing them.</summary>
    public int CountTokens(ReadOnlySpan<char> text, SpecialTokenHandling specialTokens = SpecialTokenHandling.EncodeAsText)
        => Encode(text, specialTokens, ids: null);

    /// <summary>Number of ordinary (mergeable) tokens: their ids are 0 to this count - 1, special tokens' ids come after.</summary>
    public int OrdinaryTokenCount => _ordinaryTokenCount.Value;

    /// <summary>
    /// Decodes token ids to text. Byte sequences that are not valid UTF-8 (a token list cut inside
    /// a character) become U+FFFD, as tiktoken's <c>decode</c> with <c>errors="replace"</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary (the library would skip it silently).</exception>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids as IReadOnlyList<int> ?? [.. ids];
        var ordinary = OrdinaryTokenCount;
        for (var i = 0; i < list.Count; i++)
        {
            var id = list[i];
            if ((uint)id >= (uint)ordinary && !_specialIds.Contains(id))
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is not in the {EncodingName} vocabulary.");
            }
        }

        return _inner.Decode(list);
    }

    /// <summary>
    /// The library does not expose its vocabulary's size, but tiktoken's ranks are 0..n-1 and every
    /// one decodes to at least one character (U+FFFD for a partial UTF-8 sequence), while an unknown
    /// id decodes to nothing: a binary search below the first special token finds n.
    /// </summary>
    private int FindOrdinaryTokenCount()
    {
        var low = 0;
        var high = _specialIds.Count == 0 ? 1 << 24 : _specialIds.Min();
        while (low < high)
        {
            var middle = low + ((high - low) / 2);
            if (_inner.Decode([middle]).Length > 0)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }

    /// <summary>True when the library alone splits <paramref name="text"/> exactly as tiktoken does: no surrogate, and no special-token text to keep as text.</summary>
    private bool IsPlain(ReadOnlySpan<char> text, SpecialTokenHandling specialTokens)
        => specialTokens is SpecialTokenHandling.EncodeAsText or SpecialTokenHandling.Recognize
            && !text.ContainsAnyInRange('\uD800', '\uDFFF')
            && (specialTokens == SpecialTokenHandling.Recognize || !text.ContainsAny(_specialTexts));

    /// <summary>Encodes into <paramref name="ids"/>, or only counts when it is null; returns the number of tokens.</summary>
    private int Encode(ReadOnlySpan<char> text, SpecialTokenHandling specialTokens, List<int>? ids)
    {
        if (specialTokens is not (SpecialTokenHandling.EncodeAsText or SpecialTokenHandling.Recognize))
        {
            throw new ArgumentOutOfRangeException(nameof(specialTokens), specialTokens, "Use EncodeAsText or Recognize.");
        }

        if (text.IsEmpty)
        {
            return 0;
        }

        var hasSurrogates = text.ContainsAnyInRange('\uD800', '\uDFFF');
        var hideSpecialTokens = specialTokens == SpecialTokenHandling.EncodeAsText && text.ContainsAny(_specialTexts);
        if (!hasSurrogates && !hideSpecialTokens)
        {
            // The common case: the library splits this text exactly as tiktoken does.
            if (ids is null)
            {
                return _inner.CountTokens(text);
            }

            var encoded = _inner.EncodeToIds(text);
            ids.AddRange(encoded);
            return encoded.Count;
        }

        char[]? repaired = hasSurrogates ? RepairLoneSurrogates(text) : null;
        try
        {
            if (repaired is not null)
            {
                text = repaired.AsSpan(0, text.Length);
            }

            return EncodeThroughView(text, specialTokens, hideSpecialTokens, ids);
        }
        finally
        {
            if (repaired is not null)
            {
                ArrayPool<char>.Shared.Return(repaired);
            }
        }
    }

    /// <summary>Pre-tokenizes a <see cref="PreTokenizerView"/> of the text and byte-pair encodes each original piece with the library.</summary>
    private int EncodeThroughView(ReadOnlySpan<char> text, SpecialTokenHandling specialTokens, bool hideSpecialTokens, List<int>? ids)
    {
        using var view = PreTokenizerView.Create(text, hideSpecialTokens ? _specialTexts : null);
        var count = 0;
        foreach (var (offset, length) in _preTokenizer.PreTokenize(view.Text))
        {
            if (length == 0)
            {
                continue;
            }

            var piece = text[view.Original(offset, length)];
            if (specialTokens == SpecialTokenHandling.Recognize && _specialLookup.TryGetValue(piece, out var special))
            {
                ids?.Add(special);
                count++;
            }
            else if (ids is null)
            {
                count += _inner.CountTokens(piece, considerPreTokenization: false, considerNormalization: false);
            }
            else
            {
                var encoded = _inner.EncodeToIds(piece, considerPreTokenization: false, considerNormalization: false);
                ids.AddRange(encoded);
                count += encoded.Count;
            }
        }

        return count;
    }

    /// <summary>A pooled copy of <paramref name="text"/> with lone surrogates replaced by U+FFFD, or null when it has none.</summary>
    private static char[]? RepairLoneSurrogates(ReadOnlySpan<char> text)
    {
        char[]? copy = null;
        for (var i = text.IndexOfAnyInRange('\uD800', '\uDFFF'); i < text.Length; i++)
        {
            var c = text[i];
            if (!char.IsSurrogate(c))
            {
                continue;
            }

            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }

            if (copy is null)
            {
                copy = ArrayPool<char>.Shared.Rent(text.Length);
                text.CopyTo(copy);
            }

            copy[i] = '\uFFFD';
        }

        return copy;
    }
}
