using BenchmarkDotNet.Attributes;
using MlTiktoken = Microsoft.ML.Tokenizers.TiktokenTokenizer;

namespace Gateway.Grpc.Tokenizer.Benchmarks;

/// <summary>
/// The gateway's tokenizer (baseline) and Microsoft.ML.Tokenizers' TiktokenTokenizer on the same
/// texts: encode to ids, and count. npm tiktoken runs in its own process (npm-tiktoken.js).
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private TiktokenTokenizer _gateway = null!;
    private MlTiktoken _mlnet = null!;
    private string _text = "";

    [Params("o200k_base", "cl100k_base")]
    public string Encoding { get; set; } = "o200k_base";

    [Params("mixed", "english")]
    public string Corpus { get; set; } = "mixed";

    [GlobalSetup]
    public void Setup()
    {
        _gateway = TiktokenTokenizer.CreateForEncoding(Encoding);
        _mlnet = MlTiktoken.CreateForEncoding(Encoding);
        _text = BenchCorpus.Load(Corpus);
    }

    [Benchmark(Baseline = true)]
    public int Gateway_EncodeToIds() => _gateway.EncodeToIds(_text).Count;

    [Benchmark]
    public int Gateway_CountTokens() => _gateway.CountTokens(_text);

    [Benchmark]
    public int MlNet_EncodeToIds() => _mlnet.EncodeToIds(_text).Count;

    [Benchmark]
    public int MlNet_CountTokens() => _mlnet.CountTokens(_text);
}
