"""Reading `perf script` output of a .NET process (perf map on) and putting each sample in one
bucket by its innermost frame. Shared by bench/profile_report.py (PROFILE.md) and
bench/profile_diff.py (PROFILE-DIFF.md), with the header both reports print."""
import os
import re

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




def self_name(frames, width=140, native_library=False):
    """The innermost frame's name for a top-functions table: JIT tier tags and arguments dropped,
    kernel frames marked; with native_library, other native frames carry their library's name."""
    sym, dso = frames[0]
    sym = re.sub(r"\[(OptimizedTier1|Optimized|Tier0|Tier1|QuickJitted|OptimizedTier1OSR|PreJIT)\]", "", sym)
    sym = re.sub(r"\(.*$", "", sym)
    if "kernel" in dso:
        sym = "[kernel] " + sym
    elif native_library and assembly(sym) is None and not sym.startswith("stub"):
        sym = f"[{os.path.basename(dso)}] {sym}"
    return sym[:width]


def command_and_machine(w, command, facts):
    """The report's command block and its "Machine" list (from write_profile_facts in common.sh)."""
    w("```sh")
    w(command)
    w("```")
    w("")
    w("## Machine")
    w("")
    for line in facts.splitlines():
        w(f"- {line}")
    w("")
