using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Gateway.Grpc.Tokenizer.Internal;

/// <summary>
/// One vocabulary as the <c>tiktoken</c> npm package ships it (<c>encoders/&lt;name&gt;.json</c>):
/// <code>{"pat_str": "...", "special_tokens": {"&lt;|endoftext|&gt;": 100257, ...}, "bpe_ranks": "! 0 IQ== Ig== ..."}</code>
/// <c>bpe_ranks</c> is one space-separated string: <c>! N</c> sets the rank of the next token to
/// N, and every other word is a token's bytes in base64, ranked one after the previous.
/// </summary>
internal sealed class EncoderFile
{
    private EncoderFile(string pattern, Dictionary<string, int> specialTokens, RankTable ranks)
    {
        Pattern = pattern;
        SpecialTokens = specialTokens;
        Ranks = ranks;
    }

    public string Pattern { get; }

    public Dictionary<string, int> SpecialTokens { get; }

    public RankTable Ranks { get; }

    public static EncoderFile Parse(ReadOnlySpan<byte> json, string source)
    {
        string? pattern = null;
        Dictionary<string, int>? special = null;
        RankTable? ranks = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            Expect(ref reader, JsonTokenType.StartObject, source);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("pat_str"u8))
                {
                    Expect(ref reader, JsonTokenType.String, source);
                    pattern = reader.GetString();
                }
                else if (reader.ValueTextEquals("special_tokens"u8))
                {
                    special = ReadSpecialTokens(ref reader, source);
                }
                else if (reader.ValueTextEquals("bpe_ranks"u8))
                {
                    Expect(ref reader, JsonTokenType.String, source);
                    ranks = reader.ValueIsEscaped
                        ? ParseRanks(Encoding.UTF8.GetBytes(reader.GetString()!), source)
                        : ParseRanks(reader.ValueSpan, source);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source} is not valid JSON: {ex.Message}", ex);
        }

        if (pattern is null || special is null || ranks is null)
        {
            throw new InvalidDataException($"{source} lacks one of pat_str, special_tokens, bpe_ranks.");
        }

        foreach (var (text, id) in special)
        {
            if (ranks.Contains(id))
            {
                throw new InvalidDataException($"{source}: special token {text} reuses the ordinary token id {id}.");
            }
        }

        for (var b = 0; b < 256; b++)
        {
            if (!ranks.TryGetRank([(byte)b], out _))
            {
                throw new InvalidDataException($"{source}: the byte 0x{b:X2} has no token; a byte-level vocabulary needs all 256.");
            }
        }

        return new EncoderFile(pattern, special, ranks);
    }

    private static Dictionary<string, int> ReadSpecialTokens(ref Utf8JsonReader reader, string source)
    {
        Expect(ref reader, JsonTokenType.StartObject, source);
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            Expect(ref reader, JsonTokenType.Number, source);
            if (name.Length == 0 || !reader.TryGetInt32(out var id) || id < 0)
            {
                throw new InvalidDataException($"{source}: special token '{name}' needs a non-negative integer id.");
            }

            result[name] = id;
        }

        return result;
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string source)
    {
        if (!reader.Read() || reader.TokenType != type)
        {
            throw new InvalidDataException($"{source}: expected {type} at byte {reader.TokenStartIndex}, found {reader.TokenType}.");
        }
    }

    internal static RankTable ParseRanks(ReadOnlySpan<byte> text, string source)
    {
        // Decoded bytes are at most 3/4 of the base64 text.
        var blob = new byte[text.Length / 4 * 3 + 3];
        var tokens = new List<(int Rank, int Offset, int Length)>(text.Length / 8);
        var written = 0;
        var nextRank = 0;
        var expectRank = false;
        while (!text.IsEmpty)
        {
            var space = text.IndexOf((byte)' ');
            var word = space < 0 ? text : text[..space];
            text = space < 0 ? default : text[(space + 1)..];
            if (word.IsEmpty)
            {
                continue;
            }

            if (expectRank)
            {
                if (!int.TryParse(Encoding.ASCII.GetString(word), NumberStyles.None, CultureInfo.InvariantCulture, out nextRank))
                {
                    throw new InvalidDataException($"{source}: '!' must be followed by a rank number.");
                }

                expectRank = false;
                continue;
            }

            if (word is [(byte)'!'])
            {
                expectRank = true;
                continue;
            }

            var status = Base64.DecodeFromUtf8(word, blob.AsSpan(written), out _, out var length);
            if (status != System.Buffers.OperationStatus.Done)
            {
                throw new InvalidDataException($"{source}: token {nextRank} is not valid base64.");
            }

            tokens.Add((nextRank, written, length));
            written += length;
            nextRank++;
        }

        return RankTable.Build(blob, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokens));
    }
}
