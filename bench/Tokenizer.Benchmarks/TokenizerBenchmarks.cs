using BenchmarkDotNet.Attributes;

namespace Gateway.Grpc.Tokenizer.Benchmarks;

[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private TiktokenTokenizer _tokenizer = null!;
    private string _text = "";

    [Params("o200k_base", "cl100k_base")]
    public string Encoding { get; set; } = "o200k_base";

    [Params("mixed", "english")]
    public string Corpus { get; set; } = "mixed";

    [GlobalSetup]
    public void Setup()
    {
        _tokenizer = TiktokenTokenizer.CreateForEncoding(Encoding);
        _text = BenchCorpus.Load(Corpus);
    }

    [Benchmark(Baseline = true)]
    public int EncodeToIds() => _tokenizer.EncodeToIds(_text).Count;

    [Benchmark]
    public int CountTokens() => _tokenizer.CountTokens(_text);

    [Benchmark]
    public string Decode() => _tokenizer.Decode(_tokenizer.EncodeToIds(_text));
}
