using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Simulator;

/// <summary>Parses the simulator's command line into <see cref="SimulatorOptions"/>.</summary>
internal static class CommandLine
{
    public const string Usage = """
        Usage: Gateway.Grpc.Simulator [options]
          --http HOST:PORT          HTTP/1.1 provider + admin APIs (default 127.0.0.1:0 = free port)
          --grpc HOST:PORT          h2c gateway.v1 gRPC endpoint (default 127.0.0.1:0 = free port)
          --ttft-ms N               time to first token (default 0)
          --tokens-per-second N     output pace (default 0 = no pacing)
          --output-tokens N         natural answer length (default: 16-63, from the prompt)
          --fault-rate R            fraction 0..1 of generation requests that fail (every 1/R-th)
          --fault-status S          status of those failures (default 503)
          --retry-after-ms N        retry-after for 429s without x-sim-retry-after-ms (default 1000)
          --api-key KEY             require this key (default: any non-empty key)
          --max-records N           request log size (default 10000; 0 = off)
          --verbose                 debug logging
        Prints "SIM_HTTP http://..." and "SIM_GRPC http://..." once listening.
        """;

    public static bool TryParse(string[] args, out SimulatorOptions options, out string? error, out bool help)
    {
        options = new SimulatorOptions { LogLevel = LogLevel.Warning };
        error = null;
        help = false;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            switch (arg)
            {
                case "-h" or "--help":
                    help = true;
                    return true;
                case "--verbose":
                    options.LogLevel = LogLevel.Debug;
                    continue;
            }

            var value = inline ?? (i + 1 < args.Length ? args[++i] : null);
            if (value is null)
            {
                error = $"{arg} needs a value.";
                return false;
            }

            switch (arg)
            {
                case "--http":
                    options.HttpAddress = value;
                    break;
                case "--grpc":
                    options.GrpcAddress = value;
                    break;
                case "--ttft-ms":
                    if (!Int(arg, value, out var ttft, ref error))
                    {
                        return false;
                    }

                    options.TtftMs = ttft;
                    break;
                case "--tokens-per-second":
                    if (!Double(arg, value, out var tps, ref error))
                    {
                        return false;
                    }

                    options.TokensPerSecond = tps;
                    break;
                case "--output-tokens":
                    if (!Int(arg, value, out var output, ref error))
                    {
                        return false;
                    }

                    options.OutputTokens = output;
                    break;
                case "--fault-rate":
                    if (!Double(arg, value, out var rate, ref error))
                    {
                        return false;
                    }

                    options.FaultRate = rate;
                    break;
                case "--fault-status":
                    if (!Int(arg, value, out var status, ref error))
                    {
                        return false;
                    }

                    options.FaultStatus = status;
                    break;
                case "--retry-after-ms":
                    if (!Int(arg, value, out var retry, ref error))
                    {
                        return false;
                    }

                    options.RetryAfterMs = retry;
                    break;
                case "--max-records":
                    if (!Int(arg, value, out var records, ref error))
                    {
                        return false;
                    }

                    options.MaxRecordedRequests = records;
                    break;
                case "--api-key":
                    options.ApiKey = value;
                    break;
                default:
                    error = $"unknown option '{arg}'.";
                    return false;
            }
        }

        var problems = options.Validate();
        if (problems.Count > 0)
        {
            error = string.Join(" ", problems);
            return false;
        }

        return true;
    }

    private static bool Int(string name, string value, out int result, ref string? error)
    {
        if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out result))
        {
            return true;
        }

        error = $"{name}: '{value}' is not an integer.";
        return false;
    }

    private static bool Double(string name, string value, out double result, ref string? error)
    {
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out result))
        {
            return true;
        }

        error = $"{name}: '{value}' is not a number.";
        return false;
    }
}
