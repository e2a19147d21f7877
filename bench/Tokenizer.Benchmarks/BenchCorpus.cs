namespace Gateway.Grpc.Tokenizer.Benchmarks;

/// <summary>
/// The texts both this benchmark and npm-tiktoken.js encode: "mixed" is the whole of
/// tests/tokenizer-reference/corpus.txt (prose, code, CJK, Arabic, emoji, URLs, numbers),
/// "english" its two English sections.
/// </summary>
internal static class BenchCorpus
{
    public static string Load(string name)
    {
        var text = File.ReadAllText(Path.Combine(FindRepoRoot(), "tests", "tokenizer-reference", "corpus.txt"));
        return name switch
        {
            "mixed" => text,
            "english" => Sections(text, "english-prose", "english-dialogue"),
            _ => throw new ArgumentException($"Unknown corpus '{name}'; use mixed or english.", nameof(name)),
        };
    }

    private static string Sections(string text, params string[] names)
    {
        var parts = text.Split("### ");
        return string.Concat(parts.Where(p => names.Any(n => p.StartsWith(n + "\n", StringComparison.Ordinal))).Select(p => p[(p.IndexOf('\n', StringComparison.Ordinal) + 1)..]));
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.Grpc.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Run the benchmark from inside the repository (Gateway.Grpc.sln not found).");
    }
}
