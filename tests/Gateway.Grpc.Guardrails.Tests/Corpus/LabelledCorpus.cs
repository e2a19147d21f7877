using System.Globalization;
using System.Text;

namespace Gateway.Grpc.Guardrails.Tests.Corpus;

/// <summary>One labelled case: which detector it is for, the rule it must report ("-": none of that detector's), the text.</summary>
public sealed record CorpusCase(int Line, string Detector, string? ExpectedRule, string Text)
{
    public override string ToString() => $"line {Line} [{Detector} {ExpectedRule ?? "-"}] {Text}";
}

/// <summary>Reads Corpus/corpus.tsv (written by Corpus/generate-corpus.py; checked in, so the figures are reproducible).</summary>
public static class LabelledCorpus
{
    public static IReadOnlyList<CorpusCase> Load()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Corpus", "corpus.tsv");
        var cases = new List<CorpusCase>();
        var line = 0;
        foreach (var raw in File.ReadLines(path))
        {
            line++;
            if (raw.StartsWith('#') || raw.Length == 0)
            {
                continue;
            }

            var parts = raw.Split('\t', 3);
            cases.Add(new CorpusCase(line, parts[0], parts[1] == "-" ? null : parts[1], Unescape(parts[2])));
        }

        return cases;
    }

    private static string Unescape(string text)
    {
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\' && i + 1 < text.Length)
            {
                switch (text[i + 1])
                {
                    case 'n':
                        sb.Append('\n');
                        i++;
                        continue;
                    case 'u' when i + 5 < text.Length:
                        sb.Append((char)int.Parse(text.AsSpan(i + 2, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 5;
                        continue;
                    case 'U' when i + 9 < text.Length:
                        sb.Append(char.ConvertFromUtf32(int.Parse(text.AsSpan(i + 2, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
                        i += 9;
                        continue;
                }
            }

            sb.Append(text[i]);
        }

        return sb.ToString();
    }
}
