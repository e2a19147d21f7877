namespace Gateway.Grpc.Tests.TestInfrastructure;

/// <summary>
/// Node.js and the grpc-js packages of tests/interop. Tests that need them fail (never skip)
/// with instructions when they are missing: the test command installs them.
/// </summary>
internal static class Node
{
    private static readonly Lazy<string> NodePath = new(Locate);

    /// <summary>The node executable, after checking tests/interop/node_modules is installed.</summary>
    public static string Executable => NodePath.Value;

    /// <summary>Runs a script of tests/interop with node.</summary>
    public static Task<ProcessResult> RunScriptAsync(string script, IReadOnlyList<string> arguments, TimeSpan timeout)
        => ExternalProcess.RunAsync(Executable, [Path.Combine(RepoPaths.Interop, script), .. arguments], timeout, RepoPaths.Interop);

    /// <summary>Starts a server script of tests/interop that prints <c>LISTENING &lt;port&gt;</c>; returns it and the port.</summary>
    public static async Task<(RunningProcess Process, int Port)> StartServerAsync(string script, params string[] arguments)
    {
        var process = await ExternalProcess.StartAsync(Executable, [Path.Combine(RepoPaths.Interop, script), .. arguments], "LISTENING ", TimeSpan.FromSeconds(30), RepoPaths.Interop);
        return (process, int.Parse(process.ReadyValue, System.Globalization.CultureInfo.InvariantCulture));
    }

    private static string Locate()
    {
        var node = ExternalProcess.FindExecutable("node")
            ?? throw new InvalidOperationException("node was not found on PATH. The interop tests need Node.js 20+ and tests/interop/node_modules: run `bash scripts/test-deps.sh` (or install Node and run `npm ci` in tests/interop).");
        var grpcJs = Path.Combine(RepoPaths.Interop, "node_modules", "@grpc", "grpc-js", "package.json");
        var protoLoader = Path.Combine(RepoPaths.Interop, "node_modules", "@grpc", "proto-loader", "package.json");
        if (!File.Exists(grpcJs) || !File.Exists(protoLoader))
        {
            throw new InvalidOperationException($"tests/interop/node_modules is missing @grpc/grpc-js or @grpc/proto-loader (looked for {grpcJs}). Run `bash scripts/test-deps.sh` or `npm ci` in tests/interop.");
        }

        return node;
    }
}
