using System.Diagnostics;
using System.Globalization;
using System.Text;
using BenchmarkDotNet.Running;
using Gateway.Grpc.Tokenizer;
using Gateway.Grpc.Tokenizer.Benchmarks;

// dotnet run -c Release -- --quick     same loop and output format as npm-tiktoken.js, for a side-by-side table
// dotnet run -c Release -- [BenchmarkDotNet args, e.g. --filter * --job short]
if (args is ["--quick", ..])
{
    var seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 3;
    foreach (var encoding in new[] { "o200k_base", "cl100k_base" })
    {
        var tokenizer = TiktokenTokenizer.CreateForEncoding(encoding);
        foreach (var corpus in new[] { "mixed", "english" })
        {
            var text = BenchCorpus.Load(corpus);
            var bytes = Encoding.UTF8.GetByteCount(text);
            var tokens = tokenizer.EncodeToIds(text).Count;
            for (var i = 0; i < 200; i++)
            {
                tokenizer.EncodeToIds(text);
            }

            var watch = Stopwatch.StartNew();
            var iterations = 0;
            while (watch.Elapsed.TotalSeconds < seconds)
            {
                tokenizer.EncodeToIds(text);
                iterations++;
            }

            var perOp = watch.Elapsed.TotalSeconds / iterations;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"dotnet  {encoding,-12} {corpus,-8} {bytes,7} B {tokens,6} tok  {perOp * 1e6,9:F1} us/op  {bytes / perOp / 1e6,7:F2} MB/s  {tokens / perOp / 1e6,6:F2} Mtok/s"));
        }
    }

    return;
}

BenchmarkSwitcher.FromAssembly(typeof(TokenizerBenchmarks).Assembly).Run(args);
