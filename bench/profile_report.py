#!/usr/bin/env python3
"""Turns bench/profile.sh's raw files into bench/PROFILE.md (see that script for what it runs)."""
import argparse
import collections
import os
import re

p = argparse.ArgumentParser()
p.add_argument("--work", required=True)
p.add_argument("--calls", type=int, required=True)
p.add_argument("--concurrency", type=int, required=True)
p.add_argument("--cpu-ticks", type=int, required=True)
p.add_argument("--clk-tck", type=int, required=True)
p.add_argument("--alloc-bytes", type=int, required=True)
p.add_argument("--command", required=True)
p.add_argument("--out", required=True)
a = p.parse_args()
W = a.work


def read(name):
    path = os.path.join(W, name)
    return open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else ""


def h2(name):
    text = read(name)
    m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", text)
    ok = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded", text)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", text)
    return {
        "rps": float(m.group(2)) if m else 0.0,
        "succeeded": int(ok.group(2)) if ok else 0,
        "total": int(ok.group(1)) if ok else 0,
        "mean": mean.group(1) if mean else "?",
    }


# ---- CPU profile ------------------------------------------------------------------------------
FRAME = re.compile(r"^\s*([0-9a-f]+)\s+(.*?)\s+\(([^)]*)\)\s*$")


def parse_samples(text):
    for block in text.split("\n\n"):
        lines = [l for l in block.split("\n") if l.strip()]
        if len(lines) < 2:
            continue
        frames = []
        for line in lines[1:]:
            m = FRAME.match(line)
            if m:
                frames.append((m.group(2), m.group(3)))
        if frames:
            yield frames


def assembly(sym):
    m = re.search(r"\[([\w.]+)\] ", sym)
    return m.group(1) if m else None


def category(frames):
    syms = [s for s, _ in frames]
    if any("LowLevelLifoSemaphore" in s or "sched_yield" in s for s in syms):
        return "thread pool: idle workers spinning (sched_yield) / waiting"
    sym, dso = frames[0]
    if "kernel" in dso:
        call = next((m.group(1) for s in syms for m in [re.match(r"__(?:x64|do)_sys_(\w+)", s)] if m), None)
        if call in ("sendto", "sendmsg", "write", "writev"):
            return "kernel: socket send (incl. loopback delivery to the peer)"
        if call in ("recvfrom", "recvmsg", "read", "readv"):
            return "kernel: socket receive"
        if call in ("epoll_wait", "epoll_ctl"):
            return "kernel: epoll"
        if call == "futex":
            return "kernel: futex (thread wake-ups)"
        if call in ("pwrite64", "pread64", "fsync", "fdatasync", "lstat", "newlstat", "openat", "close", "rename"):
            return "kernel: file I/O (SQLite ledger, hook files)"
        if call:
            return f"kernel: other syscalls ({call})"
        return "kernel: interrupts, scheduling, page faults"
    base = os.path.basename(dso)
    if base.startswith("libclrjit"):
        return "runtime: JIT compiler"
    if base.startswith("libcoreclr"):
        return "runtime: libcoreclr (GC, type checks, stubs)"
    if "sqlite" in base:
        return "SQLite engine (ledger writes)"
    if base.startswith("libc.so") or base.startswith("ld-linux") or base.startswith("libSystem.Native"):
        return "libc / System.Native (syscall wrappers, memcpy, TLS)"
    asm = assembly(sym)
    if asm is None:
        if sym.startswith("stub ") or "[unknown]" in sym or dso.startswith("[JIT]") or "perf-" in dso:
            return "runtime: stubs and unnamed JIT'd code"
        return "other native: " + base
    if asm.startswith("Gateway.Grpc.Protocol"):
        return "ours: gRPC protocol layer (Gateway.Grpc.Protocol*)"
    if asm.startswith("Gateway.") or asm.startswith("Gateway.V1"):
        return "ours: gateway (dispatch, governance, telemetry, adapters, contracts)"
    if asm.startswith("Microsoft.AspNetCore"):
        return "Kestrel / ASP.NET Core (inbound HTTP/2)"
    if asm == "System.Net.Http":
        return "HttpClient SocketsHttpHandler (upstream HTTP/2)"
    if asm == "System.Net.Sockets":
        return "System.Net.Sockets"
    if asm == "Polly.Core":
        return "Polly (retry, circuit breaker pipelines)"
    if asm == "Google.Protobuf":
        return "Google.Protobuf (serialize/parse)"
    if asm in ("Microsoft.Data.Sqlite", "SQLitePCLRaw.core", "SQLitePCLRaw.provider.e_sqlite3"):
        return "SQLite ADO.NET (ledger writes)"
    if asm == "System.Private.CoreLib":
        return "CoreLib (thread pool, async machinery, collections, strings)"
    if asm.startswith("System.Diagnostics") or asm.startswith("Microsoft.Extensions.Logging") or asm.startswith("OpenTelemetry"):
        return "diagnostics (Activity, metrics, logging)"
    if asm.startswith("System.IO.Pipelines") or asm.startswith("System.Threading.Channels"):
        return "Pipelines / Channels"
    if asm.startswith("System.Text.Json"):
        return "System.Text.Json (access log)"
    return "other managed: " + asm


samples = list(parse_samples(read("perf.txt")))
cats = collections.Counter(category(f) for f in samples)
total = sum(cats.values()) or 1
busy = [f for f in samples if not category(f).startswith("thread pool: idle")]
top_self = collections.Counter()
for frames in busy:
    sym, dso = frames[0]
    sym = re.sub(r"\[(OptimizedTier1|Optimized|Tier0|Tier1|QuickJitted|OptimizedTier1OSR|PreJIT)\]", "", sym)
    sym = re.sub(r"\(.*$", "", sym)
    if "kernel" in dso:
        sym = "[kernel] " + sym
    top_self[sym[:140]] += 1

cpu_us_per_call = a.cpu_ticks / a.clk_tck * 1e6 / max(a.calls, 1)
h2cpu = h2("h2-cpu.txt")
h2perf = h2("h2-perf.txt")

# ---- syscalls ------------------------------------------------------------------------------------
sys_rows = []
strace_calls = h2("h2-strace.txt")["succeeded"] or 1
for line in read("strace.txt").splitlines():
    m = re.match(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$", line)
    if m:
        sys_rows.append((int(m.group(1)), int(m.group(2) or 0), m.group(3)))
sys_rows.sort(reverse=True)

# ---- allocations by type ---------------------------------------------------------------------------


def load_types(name):
    d = {}
    for line in read(name).splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            d[parts[2]] = (int(parts[0]), int(parts[1]))
    return d


t0, t1 = load_types("types0.txt"), load_types("types1.txt")
alloc_rows = []
for name, (n, b) in t1.items():
    n0, b0 = t0.get(name, (0, 0))
    if n - n0 > 0:
        alloc_rows.append((n - n0, name))
alloc_rows.sort(reverse=True)
alloc_total = sum(n for n, _ in alloc_rows) or 1
alloc_per_call = a.alloc_bytes / max(a.calls, 1)


def short_type(name):
    # AsyncStateMachineBox`1[Result,Declaring+<Method>d__N[...]] -> "async state machine box: Declaring+<Method>"
    if name.startswith("AsyncStateMachineBox"):
        m = re.search(r"([\w`]+)\+(<[^\[\],]*?>[\w|]*?d(?:__\d+)?(?:`\d+)?)", name)
        if m:
            return f"async state machine box: {m.group(1)}+{m.group(2)}"
    return name if len(name) <= 110 else name[:107] + "..."


grouped = collections.Counter()
for n, name in alloc_rows:
    grouped[short_type(name)] += n

# ---- write ---------------------------------------------------------------------------------------------
out = []
w = out.append
w("# Gateway hot-path profile")
w("")
w("Generated by `bench/profile.sh` (every number below comes from that one run). gRPC unary `Complete`")
w("through the gateway (model `bench-grpc`, provider `grpc`) to the provider simulator's gateway.v1")
w("endpoint (zero think time, 20 output tokens): the hop `bench/run.sh` measures. h2load drives it;")
w("everything shares the machine's cores.")
w("")
w("```sh")
w(a.command)
w("```")
w("")
w("## Machine")
w("")
for line in read("facts.txt").splitlines():
    w(f"- {line}")
w("")
w("## CPU per call")
w("")
w(f"- concurrency {a.concurrency}, {a.calls:,} calls after a 20 s warm-up: {h2cpu['rps']:,.0f} req/s, mean {h2cpu['mean']} per call,")
w(f"  {h2cpu['succeeded']:,} of {h2cpu['total']:,} succeeded")
w(f"- gateway process CPU (user+system, /proc/PID/stat): **{cpu_us_per_call:,.0f} µs per call**")
w(f"- allocated in the gateway process: **{alloc_per_call:,.0f} bytes per call** (GC.GetTotalAllocatedBytes)")
w("")
w(f"## Where the CPU goes (`perf record -F 999 -g`, {total:,} samples of the gateway process, {h2perf['rps']:,.0f} req/s meanwhile)")
w("")
w("Each sample is put in one bucket by its innermost frame (kernel samples by the syscall on the stack);")
w("\"µs per call\" spreads the CPU per call above over the buckets by their share.")
w("")
w("| bucket | share | µs per call |")
w("| --- | ---: | ---: |")
for name, n in cats.most_common():
    w(f"| {name} | {100 * n / total:.1f}% | {cpu_us_per_call * n / total:,.0f} |")
w("")
w(f"Top functions by self time, excluding idle spinning ({len(busy):,} samples):")
w("")
w("| share of non-idle | function |")
w("| ---: | --- |")
for sym, n in top_self.most_common(30):
    w(f"| {100 * n / max(len(busy), 1):.1f}% | `{sym.replace('|', '/')}` |")
w("")
# By layer: each busy sample counted for a layer when that layer is on its stack and the layer
# it calls next is not (the nested layers are peeled like an onion); the leaf layers count
# everything under them.
def on(frames, needle):
    return any(needle in s for s, _ in frames)


LAYERS = [
    ("edge middlewares and grpc-dotnet's call handler, outside the interceptor", lambda f: on(f, "EdgeGuardMiddleware") and not on(f, "GatewayServerInterceptor")),
    ("interceptor (request id, error edge), outside the pipeline", lambda f: on(f, "GatewayServerInterceptor") and not on(f, "CompletionPipeline")),
    ("completion pipeline (admission, cache plan, outcome), outside the dispatcher", lambda f: on(f, "CompletionPipeline") and not on(f, "Dispatch.Dispatcher")),
    ("dispatcher and Polly's breaker, outside the adapter", lambda f: on(f, "Dispatch.Dispatcher") and not on(f, "GrpcUpstreamAdapter")),
    ("grpc provider adapter with Grpc.Net.Client and HttpClient under it", lambda f: on(f, "GrpcUpstreamAdapter")),
    ("governance (keys, limits, budgets, settlement)", lambda f: on(f, "[Gateway.Grpc.Governance]")),
    ("call telemetry and the OpenTelemetry SDK", lambda f: on(f, "CallTelemetry") or on(f, "[OpenTelemetry")),
    ("ledger writer and SQLite (off the request path)", lambda f: on(f, "LedgerWriter") or on(f, "Sqlite") or on(f, "e_sqlite3")),
    ("no managed frame at all (GC, thread-pool dispatch, kernel networking, native libraries)", lambda f: not any(assembly(s) for s, _ in f)),
]
w(f"By layer, excluding idle spinning ({len(busy):,} samples): a sample counts for a layer when the layer is on its stack and the layer it calls next is not (the adapter, governance, telemetry and ledger rows count everything under them; rows can overlap).")
w("")
w("| share of busy samples | layer |")
w("| ---: | --- |")
for label, test in LAYERS:
    n = sum(1 for frames in busy if test(frames))
    w(f"| {100 * n / max(len(busy), 1):.1f}% | {label} |")
w("")
w(f"## Syscalls per call (`strace -c -f`, {strace_calls:,} calls)")
w("")
w("| syscall | calls | per call | errors |")
w("| --- | ---: | ---: | ---: |")
for calls, errors, name in sys_rows[:14]:
    w(f"| {name} | {calls:,} | {calls / strace_calls:.2f} | {errors:,} |")
w("")
w(f"## Allocations by type (runtime GCAllocationTick samples, one per ~100 KB; {alloc_total:,} samples over the {a.calls:,} calls)")
w("")
boxes = sum(n for name, n in grouped.items() if name.startswith("async state machine box"))
polly = sum(n for name, n in grouped.items() if name.startswith("async state machine box") and re.search(r"Resilience|BridgeComponent|Outcome\+|CompositeComponent", name))
w(f"Async state-machine boxes together: {100 * boxes / alloc_total:.1f}% (~{alloc_per_call * boxes / alloc_total:,.0f} B per call), of which Polly's pipelines {100 * polly / alloc_total:.1f}% (~{alloc_per_call * polly / alloc_total:,.0f} B).")
w("")
w("| share | ~bytes per call | type |")
w("| ---: | ---: | --- |")
for name, n in grouped.most_common(35):
    w(f"| {100 * n / alloc_total:.1f}% | {alloc_per_call * n / alloc_total:,.0f} | `{name.replace('|', '/')}` |")
w("")
sites = os.path.join(a.work, "alloc-sites.md")
if os.path.exists(sites):
    w("## Allocations by call site (`dotnet-trace collect --profile gc-verbose`: the same samples, with their stacks)")
    w("")
    w("Each sample is put under the innermost frame of the gateway's own assemblies on its stack (async")
    w("state machines named by their method); a sample with no gateway frame was allocated by Kestrel,")
    w("grpc-dotnet, HttpClient or the runtime on their own (the part the bare passthrough pays too).")
    w("")
    w(open(sites, encoding="utf-8").read().rstrip())
    w("")
notes = os.path.join(os.path.dirname(a.out), "PROFILE-NOTES.md")
if os.path.exists(notes):
    w(open(notes, encoding="utf-8").read().rstrip())
    w("")
open(a.out, "w", encoding="utf-8").write("\n".join(out))
print(f"wrote {a.out}")
