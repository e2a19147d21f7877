using System.Buffers;
using System.Globalization;

namespace Gateway.Grpc.Tokenizer.Internal;

/// <summary>
/// The text Microsoft.ML.Tokenizers' pre-tokenizer (the encoding's split regex) is run over when
/// running it over the original would split differently from tiktoken. Two cases:
/// <list type="bullet">
/// <item>A supplementary-plane character. tiktoken's regex runs on code points, .NET's on UTF-16
/// units, where a surrogate pair is two characters of category Cs: an astral letter or digit is then
/// neither <c>\p{L}</c> nor <c>\p{N}</c>, and an emoji cannot be the optional one-character prefix of
/// a word. In the view each pair becomes one BMP character of the same general category.</item>
/// <item>Special-token text (<c>&lt;|endoftext|&gt;</c>) to be encoded as text, as tiktoken's
/// <c>encode_ordinary</c> does. The library's pre-tokenizer always splits special tokens out; in the
/// view the token's first character is replaced by another of the same category, so the regex splits
/// it (<c>&lt;|</c>, <c>endoftext</c>, <c>|&gt;</c>) exactly as it would have split the original.</item>
/// </list>
/// The encoding patterns only tell characters apart by general category, <c>\s</c>, CR/LF, '/' and
/// the ASCII letters of English contractions after an apostrophe, so a stand-in of the same category
/// that is none of those is matched exactly like the character it replaces.
/// </summary>
internal sealed class PreTokenizerView : IDisposable
{
    // Indexed by UnicodeCategory; '\0' where the BMP has no suitable character (only Cs, never needed).
    private static readonly char[] StandIns = CreateStandIns();

    private readonly int[]? _offsets;

    private PreTokenizerView(string text, int[]? offsets)
    {
        Text = text;
        _offsets = offsets;
    }

    /// <summary>The text to pre-tokenize.</summary>
    public string Text { get; }

    /// <summary>
    /// The view of <paramref name="text"/>, whose surrogates come in valid pairs; special tokens in
    /// <paramref name="hiddenSpecialTokens"/> are disguised, when given.
    /// </summary>
    public static PreTokenizerView Create(ReadOnlySpan<char> text, SearchValues<string>? hiddenSpecialTokens)
    {
        var firstSurrogate = text.IndexOfAnyInRange('\uD800', '\uDFFF');
        char[] buffer;
        int[]? offsets = null;
        int length;
        if (firstSurrogate < 0)
        {
            buffer = text.ToArray();
            length = buffer.Length;
        }
        else
        {
            // One view character per code point; offsets[i] is where view character i starts in the original.
            buffer = new char[text.Length];
            offsets = ArrayPool<int>.Shared.Rent(text.Length + 1);
            text[..firstSurrogate].CopyTo(buffer);
            for (var i = 0; i < firstSurrogate; i++)
            {
                offsets[i] = i;
            }

            length = firstSurrogate;
            for (var i = firstSurrogate; i < text.Length; i++)
            {
                offsets[length] = i;
                var c = text[i];
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    buffer[length++] = StandIns[(int)CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(c, text[i + 1]))];
                    i++;
                }
                else
                {
                    buffer[length++] = c;
                }
            }

            offsets[length] = text.Length;
        }

        if (hiddenSpecialTokens is not null)
        {
            var view = buffer.AsSpan(0, length);
            int at;
            while ((at = view.IndexOfAny(hiddenSpecialTokens)) >= 0)
            {
                view[at] = StandIns[(int)CharUnicodeInfo.GetUnicodeCategory(view[at])];
                view = view[(at + 1)..];
            }
        }

        return new PreTokenizerView(new string(buffer, 0, length), offsets);
    }

    /// <summary>The original characters behind view characters [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>).</summary>
    public Range Original(int offset, int length)
        => _offsets is null ? new Range(offset, offset + length) : new Range(_offsets[offset], _offsets[offset + length]);

    public void Dispose()
    {
        if (_offsets is not null)
        {
            ArrayPool<int>.Shared.Return(_offsets);
        }
    }

    private static char[] CreateStandIns()
    {
        var standIns = new char[32];
        for (var c = '\u00A1'; c < '\uFFFD'; c++)
        {
            var category = (int)CharUnicodeInfo.GetUnicodeCategory(c);
            if (standIns[category] != '\0' || char.IsSurrogate(c) || char.IsWhiteSpace(c)
                // Not a case variant of an ASCII letter (U+017F long s, U+212A Kelvin sign), which the
                // contractions' (?i:'s|'t|...) would match.
                || char.ToUpperInvariant(c) < '\u0080' || char.ToLowerInvariant(c) < '\u0080')
            {
                continue;
            }

            standIns[category] = c;
        }

        return standIns;
    }
}
