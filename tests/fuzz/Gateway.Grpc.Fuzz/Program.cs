using Gateway.Grpc.Fuzz;
using SharpFuzz;

// Fuzz harness for the gateway's parsers of untrusted input (run by scripts/fuzz.sh under afl-fuzz):
//   Gateway.Grpc.Fuzz <target>                 one AFL out-of-process loop (stdin per input)
//   Gateway.Grpc.Fuzz replay <target> <path>   runs every file under <path>; exit 1 on the first crash
// Targets: openai-request, sse-openai, sse-anthropic, sse-gemini, config-yaml.
// A crash is any exception other than the clean refusal the target documents.
if (args.Length >= 1 && args[0] == "list")
{
    Console.WriteLine(string.Join('\n', Targets.Names));
    return 0;
}

if (args.Length == 3 && args[0] == "replay")
{
    return Targets.Replay(args[1], args[2], Console.Out);
}

if (args.Length != 1 || !Targets.TryGet(args[0], out var target))
{
    await Console.Error.WriteLineAsync("usage: Gateway.Grpc.Fuzz <target> | replay <target> <file-or-directory> | list");
    return 2;
}

Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target(buffer.ToArray());
});
return 0;
