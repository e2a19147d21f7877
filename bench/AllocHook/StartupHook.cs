using System.Globalization;

/// <summary>
/// DOTNET_STARTUP_HOOKS entry point for benchmarks only: every 100 ms writes the process's
/// total allocated bytes and GC counts to the file named by BENCH_ALLOC_FILE, so a load
/// generator can compute allocated bytes per request in the real gateway process.
/// </summary>
internal static class StartupHook
{
    public static void Initialize()
    {
        var path = Environment.GetEnvironmentVariable("BENCH_ALLOC_FILE");
        if (string.IsNullOrEmpty(path))
        {
            return;
        }

        var thread = new Thread(() =>
        {
            var tmp = path + ".tmp";
            while (true)
            {
                var line = string.Create(CultureInfo.InvariantCulture,
                    $"{GC.GetTotalAllocatedBytes(false)} {GC.CollectionCount(0)} {GC.CollectionCount(1)} {GC.CollectionCount(2)}\n");
                File.WriteAllText(tmp, line);
                File.Move(tmp, path, overwrite: true);
                Thread.Sleep(100);
            }
        })
        { IsBackground = true, Name = "bench-alloc-hook" };
        thread.Start();
    }
}
