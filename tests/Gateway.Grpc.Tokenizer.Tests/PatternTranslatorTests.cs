using System.Globalization;
using System.Text.RegularExpressions;
using Gateway.Grpc.Tokenizer.Internal;

namespace Gateway.Grpc.Tokenizer.Tests;

public sealed class PatternTranslatorTests
{
    private static Regex Compile(string pattern, bool astral) => new(PatternTranslator.Translate(pattern, astral), RegexOptions.Compiled);

    private static string[] Split(Regex regex, string text) => Matches(regex, text).Select(m => text.Substring(m.Index, m.Length)).ToArray();

    // ValueMatchEnumerator is a ref struct, so no LINQ over it.
    private static List<(int Index, int Length)> Matches(Regex regex, string text)
    {
        var list = new List<(int, int)>();
        foreach (var m in regex.EnumerateMatches(text))
        {
            list.Add((m.Index, m.Length));
        }

        return list;
    }

    [Theory]
    [InlineData("a*+", "(?>a*)")]
    [InlineData("a++", "(?>a+)")]
    [InlineData("a?+", "(?>a?)")]
    [InlineData("a{1,3}+", "(?>a{1,3})")]
    [InlineData("(ab)++", "(?>(?:ab)+)")]
    [InlineData("a*?", "a*?")]
    [InlineData(@"\s++$", @"(?>[\s]+)\z")]
    public void Translate_PossessiveQuantifier_BecomesAtomicGroup(string pattern, string expected)
    {
        Assert.Equal(expected, PatternTranslator.Translate(pattern, astral: false));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Translate_PossessiveQuantifier_NeverGivesBack(bool astral)
    {
        // Greedy a*a matches "aaa" by giving one 'a' back; possessive a*+a cannot.
        Assert.Matches(Compile("^a*a$", astral), "aaa");
        Assert.DoesNotMatch(Compile("^a*+a$", astral), "aaa");
        Assert.DoesNotMatch(Compile(@"^\p{L}++x", astral), "abcx");
        Assert.Matches(Compile(@"^\p{L}++\d", astral), "abc1");
        Assert.Equal(["12", "3"], Split(Compile(@"\d{1,2}+", astral), "123"));
    }

    [Theory]
    [InlineData("o200k_base")]
    [InlineData("cl100k_base")]
    public void Translate_PossessiveFormOfPattern_SplitsCorpusLikeOriginal(string encoding)
    {
        // Newer tiktoken releases write these patterns with possessive quantifiers wherever
        // backtracking can never change the match (the next item cannot match what the quantifier
        // would give back). Both forms must split every corpus text identically.
        var tokenizer = TiktokenTokenizer.CreateForEncoding(encoding);
        var possessive = tokenizer.Pattern
            .Replace(@"[^\r\n\p{L}\p{N}]?\p{L}+", @"[^\r\n\p{L}\p{N}]?+\p{L}++", StringComparison.Ordinal)
            .Replace(@"\p{N}{1,3}", @"\p{N}{1,3}+", StringComparison.Ordinal)
            .Replace(@"[^\s\p{L}\p{N}]+", @"[^\s\p{L}\p{N}]++", StringComparison.Ordinal)
            .Replace(@"[\r\n]*|", @"[\r\n]*+|", StringComparison.Ordinal)
            .Replace(@"[\r\n/]*|", @"[\r\n/]*+|", StringComparison.Ordinal);
        Assert.NotEqual(tokenizer.Pattern, possessive);
        Assert.Contains("++", possessive, StringComparison.Ordinal);

        foreach (var astral in new[] { false, true })
        {
            var original = Compile(tokenizer.Pattern, astral);
            var converted = Compile(possessive, astral);
            foreach (var entry in ReferenceCorpus.Shared.Entries)
            {
                if (!astral && entry.Text.Any(char.IsSurrogate))
                {
                    continue;
                }

                Assert.True(Matches(original, entry.Text).SequenceEqual(Matches(converted, entry.Text)), $"{entry.Name} splits differently (astral={astral})");
            }
        }
    }

    [Fact]
    public void Translate_Astral_ClassesMatchWholeSurrogatePairs()
    {
        var cl100k = Compile(@"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+(?!\S)|\s+", astral: true);
        // U+1D400 MATHEMATICAL BOLD CAPITAL A is a letter; U+1F600 is a symbol; U+1D7CE is a digit.
        Assert.Equal(["𝐀𝐁c"], Split(cl100k, "𝐀𝐁c"));
        Assert.Equal(["😀abc"], Split(cl100k, "😀abc"));
        Assert.Equal(["𝟎𝟏𝟐", "𝟑"], Split(cl100k, "𝟎𝟏𝟐𝟑"));
        Assert.Equal(["a", " 😀😀"], Split(cl100k, "a 😀😀"));
        Assert.Equal(["x", "  ", " 𝐀"], Split(cl100k, "x   𝐀"));

        // Without astral handling the same pattern splits the pairs apart, which is why it exists.
        var plain = Compile(@"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+(?!\S)|\s+", astral: false);
        Assert.NotEqual(["😀abc"], Split(plain, "😀abc"));
    }

    [Fact]
    public void CreateStandIns_TiktokenPatterns_PickSameCategoryCharacters()
    {
        foreach (var encoding in new[] { "o200k_base", "cl100k_base" })
        {
            var standIns = PatternTranslator.CreateStandIns(TiktokenTokenizer.CreateForEncoding(encoding).Pattern);
            Assert.NotNull(standIns);
            foreach (var category in new[] { UnicodeCategory.UppercaseLetter, UnicodeCategory.LowercaseLetter, UnicodeCategory.OtherLetter, UnicodeCategory.NonSpacingMark, UnicodeCategory.DecimalDigitNumber, UnicodeCategory.OtherSymbol, UnicodeCategory.OtherNotAssigned, UnicodeCategory.PrivateUse, UnicodeCategory.Format })
            {
                var c = standIns[(int)category];
                Assert.Equal(category, CharUnicodeInfo.GetUnicodeCategory(c));
                Assert.False(char.IsWhiteSpace(c) || char.IsSurrogate(c) || c < 0x80, $"bad stand-in U+{(int)c:X4} for {category}");
            }
        }
    }

    [Theory]
    [InlineData(@"\x{1F600}+|\p{L}+")]
    [InlineData(@"[\x{10000}-\x{1FFFF}]|\p{L}+")]
    public void CreateStandIns_PatternNamingSupplementaryCodePoints_ReturnsNull(string pattern)
    {
        Assert.Null(PatternTranslator.CreateStandIns(pattern));
    }

    [Fact]
    public void CreateStandIns_AvoidsPatternLiteralsAndRanges()
    {
        // U+00B5 (micro sign) would be the first lowercase stand-in; a pattern that names it forces another.
        var standIns = PatternTranslator.CreateStandIns(@"\u00B5|[\u00DF-\u00FF]|\p{Ll}+");
        Assert.NotNull(standIns);
        var lower = standIns[(int)UnicodeCategory.LowercaseLetter];
        Assert.NotEqual('\u00B5', lower);
        Assert.False(lower is >= '\u00DF' and <= '\u00FF');
        Assert.Equal(UnicodeCategory.LowercaseLetter, CharUnicodeInfo.GetUnicodeCategory(lower));
    }

    [Fact]
    public void Translate_Dot_MatchesSupplementaryCharacterAsOne()
    {
        Assert.Equal(["😀", "a"], Split(Compile(".", astral: true), "😀a"));
    }

    [Fact]
    public void Translate_CaseInsensitiveLiterals_UseUnicodeSimpleFolding()
    {
        var regex = Compile("^(?i:'s|'k)$", astral: false);
        Assert.Matches(regex, "'s");
        Assert.Matches(regex, "'S");
        Assert.Matches(regex, "'\u017F"); // LATIN SMALL LETTER LONG S folds to s
        Assert.Matches(regex, "'\u212A"); // KELVIN SIGN folds to k
        Assert.DoesNotMatch(regex, "'t");
        // Case-insensitivity ends with its group.
        Assert.DoesNotMatch(Compile("^(?i:a)b$", astral: false), "AB");
        Assert.Matches(Compile("^(?i)ab$", astral: false), "AB");
    }

    [Fact]
    public void Translate_DollarIsEndOfText()
    {
        // .NET's $ would also match before a final newline; Rust's does not.
        Assert.DoesNotMatch(Compile("a$", astral: false), "a\n");
        Assert.Matches(Compile("a$", astral: false), "a");
    }

    [Theory]
    [InlineData(@"\w+", @"\w")]
    [InlineData(@"\bx", @"\b")]
    [InlineData(@"(a)\1", @"\1")]
    [InlineData(@"[a-z&&[^aeiou]]", "set operation")]
    [InlineData(@"(?i:[a-z])", "case-insensitive")]
    [InlineData(@"\p{Greek}", "Greek")]
    [InlineData(@"(?m)^a", "'m'")]
    [InlineData(@"a**", "repetition of a repetition")]
    [InlineData(@"(ab", "unterminated")]
    [InlineData(@"ab)", "unbalanced")]
    [InlineData(@"*a", "nothing to repeat")]
    public void Translate_UnsupportedConstruct_ThrowsNamingIt(string pattern, string named)
    {
        var ex = Assert.Throws<NotSupportedException>(() => PatternTranslator.Translate(pattern, astral: false));
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }
}
