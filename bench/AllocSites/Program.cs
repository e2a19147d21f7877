// Allocations by call site: reads a trace taken with `dotnet-trace collect --profile gc-verbose`
// (the runtime's GCAllocationTick events, one per ~100 KB allocated, each with its call stack)
// and writes a Markdown section naming, for each sampled type, the innermost frame of the
// gateway's own code that led to it. Bytes per call are the sampled shares scaled to the bytes
// per call measured exactly elsewhere (bench/AllocHook), so sampling noise moves the small rows.
//
// Usage: Gateway.Grpc.Bench.AllocSites <trace.nettrace> <bytes-per-call> <out.md> [rows] [type-substring]
// With a type substring, the distinct call stacks that allocated matching types (and how many
// samples each) go to standard error: where a row of the table comes from.
using System.Globalization;
using System.Text;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

if (args.Length < 3)
{
    Console.Error.WriteLine("usage: AllocSites <trace.nettrace> <bytes-per-call> <out.md> [rows]");
    return 2;
}

var bytesPerCall = double.Parse(args[1], CultureInfo.InvariantCulture);
var rows = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 40;
var stacksFor = args.Length > 4 ? args[4] : null;
var stacks = new Dictionary<string, int>(StringComparer.Ordinal);
var etlx = TraceLog.CreateFromEventPipeDataFile(args[0]);
using var log = new TraceLog(etlx);
var bySite = new Dictionary<(string Site, string Type), long>();
var byOwner = new Dictionary<string, long>(StringComparer.Ordinal);
long total = 0;
var samples = 0;
foreach (var ev in log.Events)
{
    if (ev is not GCAllocationTickTraceData tick)
    {
        continue;
    }

    var amount = tick.AllocationAmount64 > 0 ? tick.AllocationAmount64 : tick.AllocationAmount;
    total += amount;
    samples++;
    string? site = null;
    for (var frame = ev.CallStack(); frame is not null; frame = frame.Caller)
    {
        var module = frame.CodeAddress.ModuleName ?? "";
        if (module.StartsWith("Gateway.Grpc", StringComparison.Ordinal) && !module.StartsWith("Gateway.Grpc.Bench", StringComparison.Ordinal))
        {
            site = Method(frame.CodeAddress.FullMethodName);
            break;
        }
    }

    if (stacksFor is not null && (tick.TypeName ?? "").Contains(stacksFor, StringComparison.Ordinal))
    {
        var trace = new StringBuilder(tick.TypeName).AppendLine();
        var depth = 0;
        for (var frame = ev.CallStack(); frame is not null && depth < 40; frame = frame.Caller, depth++)
        {
            trace.Append("    ").AppendLine(frame.CodeAddress.FullMethodName);
        }

        var text = trace.ToString();
        stacks[text] = stacks.GetValueOrDefault(text) + 1;
    }

    var key = (site ?? "(no gateway frame: Kestrel, grpc-dotnet, HttpClient, runtime)", Type(tick.TypeName ?? "?"));
    bySite[key] = bySite.GetValueOrDefault(key) + amount;
    var owner = site is null
        ? "no gateway frame on the stack (Kestrel, grpc-dotnet, HttpClient, runtime on their own)"
        : "a gateway frame on the stack (including library work it calls, e.g. Grpc.Net.Client under the adapter)";
    byOwner[owner] = byOwner.GetValueOrDefault(owner) + amount;
}

if (samples == 0)
{
    Console.Error.WriteLine("no GCAllocationTick events in the trace");
    return 1;
}

var md = new StringBuilder();
md.AppendLine(CultureInfo.InvariantCulture, $"{samples:N0} allocation samples; bytes per call scaled to the {bytesPerCall:N0} B measured above.");
md.AppendLine();
foreach (var (owner, bytes) in byOwner.OrderByDescending(p => p.Value))
{
    md.AppendLine(CultureInfo.InvariantCulture, $"- {owner}: {100.0 * bytes / total:0.0}% (~{bytesPerCall * bytes / total:N0} B per call)");
}

md.AppendLine();
md.AppendLine("| ~bytes per call | innermost gateway frame | type allocated |");
md.AppendLine("| ---: | --- | --- |");
foreach (var ((site, type), bytes) in bySite.OrderByDescending(p => p.Value).Take(rows))
{
    md.AppendLine(CultureInfo.InvariantCulture, $"| {bytesPerCall * bytes / total:N0} | `{Cell(site)}` | `{Cell(type)}` |");
}

File.WriteAllText(args[2], md.ToString());
foreach (var (stack, count) in stacks.OrderByDescending(p => p.Value))
{
    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{count} samples: {stack}"));
}

return 0;

static string Cell(string text) => text.Replace("|", "/", StringComparison.Ordinal);

// "Gateway.Grpc.Server.Dispatch.Dispatcher+<RunOneAsync>d__20`1[System.__Canon].MoveNext()" -> "Dispatcher.RunOneAsync"
static string Method(string full)
{
    var name = full;
    var generated = name.IndexOf(".pb::", StringComparison.Ordinal);
    if (generated > 0)
    {
        // Generated protobuf code: "Gateway.V1.CompletionResponse.pb::...InternalMergeFrom" -> "CompletionResponse (protobuf parse)"
        return Short(name[..generated]) + (name.Contains("MergeFrom", StringComparison.Ordinal) ? " (protobuf parse)" : " (protobuf)");
    }

    var paren = name.IndexOf('(', StringComparison.Ordinal);
    if (paren > 0)
    {
        name = name[..paren];
    }

    var start = name.IndexOf('<', StringComparison.Ordinal);
    var end = name.IndexOf(">d__", StringComparison.Ordinal);
    if (start >= 0 && end > start)
    {
        // An async method's state machine: Type+<Method>d__N.MoveNext
        var type = name[..start].TrimEnd('+');
        return Short(type) + "." + name[(start + 1)..end].TrimStart('<');
    }

    var dot = name.LastIndexOf('.');
    return dot > 0 ? Short(name[..dot]) + name[dot..] : name;
}

static string Short(string type)
{
    var generic = type.IndexOf('`', StringComparison.Ordinal);
    if (generic > 0)
    {
        type = type[..generic];
    }

    var dot = type.LastIndexOf('.');
    return dot >= 0 ? type[(dot + 1)..] : type;
}

static string Type(string name)
{
    // Async state-machine boxes carry their whole generic signature: keep the method's name.
    const string box = "AsyncStateMachineBox`1[";
    if (name.StartsWith(box, StringComparison.Ordinal))
    {
        var machine = name[(name.IndexOf(',', StringComparison.Ordinal) + 1)..];
        var plus = machine.IndexOf("+<", StringComparison.Ordinal);
        var end = machine.IndexOf(">d", StringComparison.Ordinal);
        if (plus > 0 && end > plus)
        {
            var owner = machine[..plus];
            return "async box: " + Short(owner) + "." + machine[(plus + 2)..end];
        }

        return "async box";
    }

    return name.Length > 90 ? name[..90] + "…" : name;
}
