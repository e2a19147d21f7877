using System.Buffers;
using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Gateway.Grpc.Tokenizer.Internal;

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
/// A byte-level BPE tokenizer that produces the same token ids as OpenAI's tiktoken for the
/// <c>o200k_base</c> (gpt-4o, gpt-4.1, gpt-5, o-series) and <c>cl100k_base</c> (gpt-4, gpt-3.5-turbo,
/// text-embedding-3) encodings. Instances are immutable and thread-safe; the factory methods
/// return one shared instance per encoding.
/// </summary>
/// <remarks>
/// The vocabularies come from the <c>tiktoken@1.0.22</c> npm package, fetched and checksum-verified
/// by <c>scripts/fetch-tokenizer-data.sh</c> and embedded at build time (or read from
/// <c>GATEWAY_TOKENIZER_DATA</c>); see <c>src/Tokenizer/README.md</c>.
/// </remarks>
public sealed partial class TiktokenTokenizer
{
    private const int StackBytes = 512;

    private readonly RankTable _ranks;
    private readonly Regex _bmpRegex;
    private readonly Lazy<Regex> _astralRegex;
    private readonly char[]? _standIns;
    private readonly Regex? _specialRegex;
    private readonly FrozenDictionary<string, int> _specialTokens;
    private readonly FrozenDictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _specialLookup;
    private readonly FrozenDictionary<int, byte[]> _specialBytes;

    internal TiktokenTokenizer(string encodingName, EncoderFile file, bool useStandIns = true)
    {
        EncodingName = encodingName;
        Pattern = file.Pattern;
        _ranks = file.Ranks;
        // Text without surrogates (almost all of it) runs the plain translation directly. Text with
        // supplementary-plane characters runs it too, with each surrogate pair replaced by a
        // same-category stand-in (see PatternTranslator.CreateStandIns); only a pattern that rules
        // stand-ins out falls back to the slower translation that matches surrogate pairs itself.
        _bmpRegex = new Regex(PatternTranslator.Translate(file.Pattern, astral: false), RegexOptions.Compiled | RegexOptions.ExplicitCapture);
        var pattern = file.Pattern;
        _astralRegex = new Lazy<Regex>(() => new Regex(PatternTranslator.Translate(pattern, astral: true), RegexOptions.Compiled | RegexOptions.ExplicitCapture));
        _standIns = useStandIns ? PatternTranslator.CreateStandIns(file.Pattern) : null;
        _specialTokens = file.SpecialTokens.ToFrozenDictionary(StringComparer.Ordinal);
        _specialLookup = _specialTokens.GetAlternateLookup<ReadOnlySpan<char>>();
        _specialBytes = file.SpecialTokens.ToFrozenDictionary(static p => p.Value, static p => Encoding.UTF8.GetBytes(p.Key));
        if (_specialTokens.Count > 0)
        {
            // Longest first, so that a token that is a prefix of another never wins.
            var alternatives = _specialTokens.Keys.OrderByDescending(static k => k.Length).ThenBy(static k => k, StringComparer.Ordinal).Select(Regex.Escape);
            _specialRegex = new Regex(string.Join('|', alternatives), RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
    }

    /// <summary>The encoding's name, e.g. <c>o200k_base</c>.</summary>
    public string EncodingName { get; }

    /// <summary>The encoding's pre-tokenization pattern as tiktoken defines it (Rust regex syntax).</summary>
    public string Pattern { get; }

    /// <summary>Special tokens and their ids.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens => _specialTokens;

    /// <summary>Number of ordinary (mergeable) tokens.</summary>
    public int OrdinaryTokenCount => _ranks.Count;

    /// <summary>Encodes <paramref name="text"/> to token ids.</summary>
    public IReadOnlyList<int> EncodeToIds(string text, SpecialTokenHandling specialTokens = SpecialTokenHandling.EncodeAsText)
    {
        ArgumentNullException.ThrowIfNull(text);
        return EncodeToIds(text.AsSpan(), specialTokens);
    }

    /// <summary>Encodes <paramref name="text"/> to token ids.</summary>
    public IReadOnlyList<int> EncodeToIds(ReadOnlySpan<char> text, SpecialTokenHandling specialTokens = SpecialTokenHandling.EncodeAsText)
    {
        // About one token per four chars of English; the list grows if needed.
        var ids = new List<int>(Math.Max(4, text.Length / 3));
        var sink = new ListSink(ids);
        Encode(text, specialTokens, ref sink);
        return ids;
    }

    /// <summary>Appends the token ids of <paramref name="text"/> to <paramref name="destination"/>, for callers that reuse one list.</summary>
    public void EncodeToIds(ReadOnlySpan<char> text, List<int> destination, SpecialTokenHandling specialTokens = SpecialTokenHandling.EncodeAsText)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var sink = new ListSink(destination);
        Encode(text, specialTokens, ref sink);
    }

    /// <summary>Counts the tokens of <paramref name="text"/> without materializing them.</summary>
    public int CountTokens(string text, SpecialTokenHandling specialTokens = SpecialTokenHandling.EncodeAsText)
    {
        ArgumentNullException.ThrowIfNull(text);
        return CountTokens(text.AsSpan(), specialTokens);
    }

    /// <summary>Counts the tokens of <paramref name="text"/> without materializing them.</summary>
    public int CountTokens(ReadOnlySpan<char> text, SpecialTokenHandling specialTokens = SpecialTokenHandling.EncodeAsText)
    {
        var sink = new CountingSink();
        Encode(text, specialTokens, ref sink);
        return sink.Count;
    }

    /// <summary>
    /// Decodes token ids to text. Byte sequences that are not valid UTF-8 (a token list cut inside
    /// a character) become U+FFFD, as tiktoken's <c>decode</c> with <c>errors="replace"</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary.</exception>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var buffer = ArrayPool<byte>.Shared.Rent(1024);
        try
        {
            var length = DecodeInto(ids, ref buffer);
            return Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Decodes token ids to the exact bytes they stand for (no UTF-8 repair).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary.</exception>
    public byte[] DecodeToBytes(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var buffer = ArrayPool<byte>.Shared.Rent(1024);
        try
        {
            var length = DecodeInto(ids, ref buffer);
            return buffer.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private int DecodeInto(IEnumerable<int> ids, ref byte[] buffer)
    {
        var length = 0;
        foreach (var id in ids)
        {
            ReadOnlySpan<byte> bytes;
            if (_ranks.Contains(id))
            {
                bytes = _ranks.GetBytes(id);
            }
            else if (_specialBytes.TryGetValue(id, out var special))
            {
                bytes = special;
            }
            else
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is not in the {EncodingName} vocabulary.");
            }

            if (length + bytes.Length > buffer.Length)
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(buffer.Length * 2, length + bytes.Length));
                buffer.AsSpan(0, length).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = larger;
            }

            bytes.CopyTo(buffer.AsSpan(length));
            length += bytes.Length;
        }

        return length;
    }

    private void Encode<TSink>(ReadOnlySpan<char> text, SpecialTokenHandling specialTokens, ref TSink sink)
        where TSink : struct, ITokenSink
    {
        if (specialTokens is not (SpecialTokenHandling.EncodeAsText or SpecialTokenHandling.Recognize))
        {
            throw new ArgumentOutOfRangeException(nameof(specialTokens), specialTokens, "Use EncodeAsText or Recognize.");
        }

        if (text.IsEmpty)
        {
            return;
        }

        char[]? repaired = null;
        try
        {
            var firstSurrogate = text.IndexOfAnyInRange('\uD800', '\uDFFF');
            if (firstSurrogate >= 0)
            {
                // tiktoken receives UTF-8, so a lone surrogate has already become U+FFFD by then.
                repaired = RepairLoneSurrogates(text, firstSurrogate);
                if (repaired is not null)
                {
                    text = repaired.AsSpan(0, text.Length);
                }
            }

            if (specialTokens == SpecialTokenHandling.Recognize && _specialRegex is not null)
            {
                var position = 0;
                foreach (var match in _specialRegex.EnumerateMatches(text))
                {
                    EncodeOrdinary(text[position..match.Index], ref sink);
                    sink.Add(_specialLookup[text.Slice(match.Index, match.Length)]);
                    position = match.Index + match.Length;
                }

                EncodeOrdinary(text[position..], ref sink);
            }
            else
            {
                EncodeOrdinary(text, ref sink);
            }
        }
        finally
        {
            if (repaired is not null)
            {
                ArrayPool<char>.Shared.Return(repaired);
            }
        }
    }

    /// <summary>A pooled copy of <paramref name="text"/> with lone surrogates replaced by U+FFFD, or null when it has none.</summary>
    private static char[]? RepairLoneSurrogates(ReadOnlySpan<char> text, int first)
    {
        char[]? copy = null;
        for (var i = first; i < text.Length; i++)
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

    /// <summary>Pre-tokenizes text without special tokens and BPE-encodes each piece. Surrogates in <paramref name="text"/> come in valid pairs.</summary>
    private void EncodeOrdinary<TSink>(ReadOnlySpan<char> text, ref TSink sink)
        where TSink : struct, ITokenSink
    {
        if (text.IsEmpty)
        {
            return;
        }

        Span<byte> scratch = stackalloc byte[StackBytes];
        var firstSurrogate = text.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (firstSurrogate < 0 || _standIns is null)
        {
            foreach (var match in (firstSurrogate < 0 ? _bmpRegex : _astralRegex.Value).EnumerateMatches(text))
            {
                if (match.Length > 0)
                {
                    EncodePiece(text.Slice(match.Index, match.Length), scratch, ref sink);
                }
            }

            return;
        }

        // One char per code point: each pair becomes its category's stand-in; offsets[i] is where
        // stand-in text char i starts in the original, so a match maps back to original chars.
        var mapped = ArrayPool<char>.Shared.Rent(text.Length);
        var offsets = ArrayPool<int>.Shared.Rent(text.Length + 1);
        try
        {
            var length = MapToStandIns(text, firstSurrogate, mapped, offsets);
            foreach (var match in _bmpRegex.EnumerateMatches(mapped.AsSpan(0, length)))
            {
                if (match.Length > 0)
                {
                    var start = offsets[match.Index];
                    EncodePiece(text[start..offsets[match.Index + match.Length]], scratch, ref sink);
                }
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(mapped);
            ArrayPool<int>.Shared.Return(offsets);
        }
    }

    private int MapToStandIns(ReadOnlySpan<char> text, int firstSurrogate, char[] mapped, int[] offsets)
    {
        text[..firstSurrogate].CopyTo(mapped);
        for (var i = 0; i < firstSurrogate; i++)
        {
            offsets[i] = i;
        }

        var length = firstSurrogate;
        for (var i = firstSurrogate; i < text.Length; i++)
        {
            offsets[length] = i;
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                var category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(c, text[i + 1]));
                mapped[length++] = _standIns![(int)category];
                i++;
            }
            else
            {
                mapped[length++] = c;
            }
        }

        offsets[length] = text.Length;
        return length;
    }

    private void EncodePiece<TSink>(ReadOnlySpan<char> piece, Span<byte> scratch, ref TSink sink)
        where TSink : struct, ITokenSink
    {
        var maxBytes = piece.Length * 3;
        byte[]? rented = null;
        var buffer = maxBytes <= scratch.Length ? scratch : (rented = ArrayPool<byte>.Shared.Rent(maxBytes));
        try
        {
            var bytes = buffer[..Encoding.UTF8.GetBytes(piece, buffer)];
            if (_ranks.TryGetRank(bytes, out var rank))
            {
                sink.Add(rank);
            }
            else
            {
                BytePairMerge.Encode(_ranks, bytes, ref sink);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
