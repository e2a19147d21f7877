using Gateway.Grpc.Simulator;

// Usage: Gateway.Grpc.Simulator --http 127.0.0.1:9000 --grpc 127.0.0.1:9001 [--ttft-ms N] [--tokens-per-second N]
//        [--output-tokens N] [--fault-rate 0.2 --fault-status 503] [--api-key KEY] [--max-records N] [--verbose]
if (!CommandLine.TryParse(args, out var options, out var error, out var help))
{
    await Console.Error.WriteLineAsync("simulator: " + error + "\n\n" + CommandLine.Usage).ConfigureAwait(false);
    return 2;
}

if (help)
{
    Console.WriteLine(CommandLine.Usage);
    return 0;
}

try
{
    await using var app = SimulatorApp.Build(options);
    await app.StartAsync().ConfigureAwait(false);

    // Scripts read these two lines to find the ports (port 0 = a free one was picked).
    Console.WriteLine("SIM_HTTP " + app.GetHttpAddress().ToString().TrimEnd('/'));
    Console.WriteLine("SIM_GRPC " + app.GetGrpcAddress().ToString().TrimEnd('/'));
    Console.Out.Flush();
    await app.WaitForShutdownAsync().ConfigureAwait(false);
    return 0;
}
catch (ArgumentException ex)
{
    await Console.Error.WriteLineAsync("simulator: " + ex.Message).ConfigureAwait(false);
    return 2;
}
catch (IOException ex)
{
    await Console.Error.WriteLineAsync("simulator: cannot listen: " + ex.Message + " Pick other ports with --http/--grpc (0 = any free port).").ConfigureAwait(false);
    return 3;
}
