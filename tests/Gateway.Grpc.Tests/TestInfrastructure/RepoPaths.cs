namespace Gateway.Grpc.Tests.TestInfrastructure;

/// <summary>Locates the repository from the test's output directory.</summary>
internal static class RepoPaths
{
    private static readonly Lazy<string> RootPath = new(FindRoot);

    /// <summary>The directory holding Gateway.Grpc.sln.</summary>
    public static string Root => RootPath.Value;

    /// <summary>tests/interop: the grpc-js drivers and servers.</summary>
    public static string Interop => Path.Combine(Root, "tests", "interop");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.Grpc.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Could not find the repository root (a directory with Gateway.Grpc.sln) above {AppContext.BaseDirectory}.");
    }
}
