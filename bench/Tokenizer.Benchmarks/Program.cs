using System.Diagnostics;
using System.Globalization;
using System.Text;
using BenchmarkDotNet.Running;
using Gateway.Grpc.Tokenizer;
using Gateway.Grpc.Tokenizer.Benchmarks;
using MlTiktoken = Microsoft.ML.Tokenizers.TiktokenTokenizer;

// dotnet Tokenizer.Benchmarks.dll --quick [seconds]   same loop and output format as npm-tiktoken.js, for a side-by-side table
// dotnet Tokenizer.Benchmarks.dll [BenchmarkDotNet args, e.g. --filter * --job short]
if (args is ["--quick", ..])
{
    var seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 3;
    foreach (var encoding in new[] { "o200k_base", "cl100k_base" })
    {
        // "dotnet" is the gateway's tokenizer (bench/run.sh reads these lines); "mlnet" is Microsoft.ML.Tokenizers called directly.
        var gateway = TiktokenTokenizer.CreateForEncoding(encoding);
        var mlnet = MlTiktoken.CreateForEncoding(encoding);
        foreach (var corpus in new[] { "mixed", "english" })
        {
            var text = BenchCorpus.Load(corpus);
            Measure("dotnet", encoding, corpus, text, seconds, gateway, static (t, s) => t.EncodeToIds(s).Count);
            Measure("mlnet", encoding, corpus, text, seconds, mlnet, static (t, s) => t.EncodeToIds(s).Count);
        }
    }

    return;
}

BenchmarkSwitcher.FromAssembly(typeof(TokenizerBenchmarks).Assembly).Run(args);

static void Measure<T>(string side, string encoding, string corpus, string text, double seconds, T tokenizer, Func<T, string, int> encode)
{
    var bytes = Encoding.UTF8.GetByteCount(text);
    var tokens = encode(tokenizer, text);
    for (var i = 0; i < 200; i++)
    {
        encode(tokenizer, text);
    }

    var watch = Stopwatch.StartNew();
    var iterations = 0;
    while (watch.Elapsed.TotalSeconds < seconds)
    {
        encode(tokenizer, text);
        iterations++;
    }

    var perOp = watch.Elapsed.TotalSeconds / iterations;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{side,-7} {encoding,-12} {corpus,-8} {bytes,7} B {tokens,6} tok  {perOp * 1e6,9:F1} us/op  {bytes / perOp / 1e6,7:F2} MB/s  {tokens / perOp / 1e6,6:F2} Mtok/s"));
}
