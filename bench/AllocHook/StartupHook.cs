using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Text;

/// <summary>
/// DOTNET_STARTUP_HOOKS entry point for benchmarks only: every 100 ms writes the process's
/// total allocated bytes and GC counts to the file named by BENCH_ALLOC_FILE, so a load
/// generator can compute allocated bytes per request in the real gateway process.
/// With BENCH_ALLOC_TYPES_FILE set it also listens to the runtime's GCAllocationTick events
/// (one sample per ~100 KB allocated, naming the type of the object that crossed the mark)
/// and writes the cumulative samples per type there every second: "samples bytes type" lines,
/// a statistical allocation profile by type. Diff two snapshots to profile one window.
/// </summary>
internal static class StartupHook
{
    private static AllocationTickListener? s_listener;

    public static void Initialize()
    {
        var path = Environment.GetEnvironmentVariable("BENCH_ALLOC_FILE");
        var typesPath = Environment.GetEnvironmentVariable("BENCH_ALLOC_TYPES_FILE");
        if (!string.IsNullOrEmpty(typesPath))
        {
            s_listener = new AllocationTickListener();
        }

        if (string.IsNullOrEmpty(path) && string.IsNullOrEmpty(typesPath))
        {
            return;
        }

        var thread = new Thread(() =>
        {
            var tick = 0;
            while (true)
            {
                if (!string.IsNullOrEmpty(path))
                {
                    var line = string.Create(CultureInfo.InvariantCulture,
                        $"{GC.GetTotalAllocatedBytes(false)} {GC.CollectionCount(0)} {GC.CollectionCount(1)} {GC.CollectionCount(2)}\n");
                    WriteAtomically(path, line);
                }

                if (s_listener is not null && !string.IsNullOrEmpty(typesPath) && ++tick % 10 == 0)
                {
                    WriteAtomically(typesPath, s_listener.Snapshot());
                }

                Thread.Sleep(100);
            }
        })
        { IsBackground = true, Name = "bench-alloc-hook" };
        thread.Start();
    }

    private static void WriteAtomically(string path, string text)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }

    private sealed class AllocationTickListener : EventListener
    {
        private const int GCAllocationTickEventId = 10;
        private const EventKeywords GCKeyword = (EventKeywords)0x1;
        private readonly ConcurrentDictionary<string, long[]> _byType = new(StringComparer.Ordinal);

        public string Snapshot()
        {
            var text = new StringBuilder();
            foreach (var (type, counts) in _byType.OrderByDescending(static p => Interlocked.Read(ref p.Value[1])))
            {
                text.Append(CultureInfo.InvariantCulture, $"{Interlocked.Read(ref counts[0])} {Interlocked.Read(ref counts[1])} {type}\n");
            }

            return text.ToString();
        }

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(eventSource, EventLevel.Verbose, GCKeyword);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventId != GCAllocationTickEventId || eventData.PayloadNames is null || eventData.Payload is null)
            {
                return;
            }

            var typeIndex = eventData.PayloadNames.IndexOf("TypeName");
            var amountIndex = eventData.PayloadNames.IndexOf("AllocationAmount64");
            if (amountIndex < 0)
            {
                amountIndex = eventData.PayloadNames.IndexOf("AllocationAmount");
            }

            var type = typeIndex >= 0 ? eventData.Payload[typeIndex] as string ?? "?" : "?";
            var amount = amountIndex >= 0 ? Convert.ToInt64(eventData.Payload[amountIndex], CultureInfo.InvariantCulture) : 0;
            var counts = _byType.GetOrAdd(type, static _ => new long[2]);
            Interlocked.Increment(ref counts[0]);
            Interlocked.Add(ref counts[1], amount);
        }
    }
}
