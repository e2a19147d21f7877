#!/usr/bin/env bash
# Profiles the gateway's hot path (gRPC unary through the gateway to the provider simulator's
# gateway.v1 endpoint, the same hop bench/run.sh measures) and writes bench/PROFILE.md:
#   - CPU: `perf record` on the gateway process with the runtime's perf map (JIT'd frames named),
#     folded into where the time goes (kernel by syscall, runtime, Kestrel, HttpClient, our code…);
#   - CPU per call, from /proc/PID/stat over a fixed number of calls;
#   - syscalls per call (`strace -c -f` over a fixed number of calls; strace slows the process,
#     the counts are what matter);
#   - allocations by type (the runtime's GCAllocationTick samples, via bench/AllocHook), and by
#     call site (the same samples with their stacks, taken by dotnet-trace and read by
#     bench/AllocSites; dotnet-trace is installed into bench/.tools when missing);
#   - the pipeline's own work by part, in process (bench/Pipeline.Benchmarks: no network, the
#     default host beside one with metrics off and one without a ledger), once the gateway is
#     stopped.
# Not part of the test suite. Usage: bench/profile.sh [calls-per-phase] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CALLS=${1:-20000}
CONC=${2:-1}
WORK=$(mktemp -d /tmp/gw-profile.XXXXXX)
PIDS=()
log() { echo "[profile $(date +%T)] $*" >&2; }

. "$ROOT/bench/common.sh"
trap stop_processes EXIT
install_tools h2load:nghttp2-client perf:linux-perf strace:strace
build_release
build_release bench/AllocSites
build_release bench/Pipeline.Benchmarks
PIPELINE_BENCH=$ROOT/bench/Pipeline.Benchmarks/bin/Release/net10.0/Gateway.Grpc.Bench.Pipeline.dll
ALLOC_SITES=$ROOT/bench/AllocSites/bin/Release/net10.0/Gateway.Grpc.Bench.AllocSites.dll
DOTNET_TRACE=$ROOT/bench/.tools/dotnet-trace
if [[ ! -x $DOTNET_TRACE ]]; then
  log "installing dotnet-trace into bench/.tools"
  dotnet tool install dotnet-trace --version 10.0.750501 --tool-path "$ROOT/bench/.tools" >"$WORK/tool.log" 2>&1 \
    || log "dotnet-trace could not be installed ($(tail -1 "$WORK/tool.log")): no allocation call sites this run"
fi
start_simulator

# The config lives in its own directory, apart from the hook's files.
mkdir -p "$WORK/config" "$WORK/hook"
cat >"$WORK/config/gateway.yaml" <<EOF
logLevel: Warning
models:
$(bench_grpc_model_yaml)
EOF
start_bench_gateway DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 \
  BENCH_ALLOC_FILE="$WORK/hook/alloc.txt" BENCH_ALLOC_TYPES_FILE="$WORK/hook/types.txt"
wait_for_gateway 300

"${LOADGEN[@]}" frame --model bench-grpc --out "$WORK/req.bin" >/dev/null
URL=http://127.0.0.1:$GW_GRPC_PORT/gateway.v1.Completion/Complete
load() { h2load "$URL" -d "$WORK/req.bin" -c "$CONC" -m 1 -t 1 -H 'content-type: application/grpc' -H 'te: trailers' "$@"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$GW_PID/stat"; }

log "warm-up: 20 s of load (tiered JIT reaches its final code)"
load -D 20 >/dev/null

log "CPU per call over $CALLS calls"
t0=$(cpu_ticks); a0=$(awk '{print $1}' "$WORK/hook/alloc.txt"); sleep 1.1; cp "$WORK/hook/types.txt" "$WORK/types0.txt"
load -n "$CALLS" >"$WORK/h2-cpu.txt"
t1=$(cpu_ticks); sleep 1.1; a1=$(awk '{print $1}' "$WORK/hook/alloc.txt"); cp "$WORK/hook/types.txt" "$WORK/types1.txt"

log "perf record during $CALLS calls"
load -n "$CALLS" >"$WORK/h2-perf.txt" &
LOAD_PID=$!
perf record -F 999 -g -p "$GW_PID" -o "$WORK/perf.data" -- sleep 8 >/dev/null 2>&1 || true
wait "$LOAD_PID" || true
perf script -i "$WORK/perf.data" -F comm,ip,sym,dso 2>/dev/null >"$WORK/perf.txt"

log "syscalls per call (strace, 3000 calls)"
(sleep 1; load -n 3000 >"$WORK/h2-strace.txt") &
LOAD_PID=$!
timeout 30 strace -c -f -p "$GW_PID" -o "$WORK/strace.txt" >/dev/null 2>&1 &
STRACE_PID=$!
wait "$LOAD_PID" || true
kill -INT "$STRACE_PID" 2>/dev/null || true
wait "$STRACE_PID" 2>/dev/null || true

if [[ -x $DOTNET_TRACE ]]; then
  log "allocation samples with their stacks (dotnet-trace gc-verbose, 8 s of load)"
  load -D 12 >"$WORK/h2-trace.txt" &
  LOAD_PID=$!
  sleep 2
  "$DOTNET_TRACE" collect -p "$GW_PID" --profile gc-verbose --duration 00:00:00:08 -o "$WORK/alloc.nettrace" >"$WORK/dotnet-trace.log" 2>&1 || true
  wait "$LOAD_PID" || true
  dotnet "$ALLOC_SITES" "$WORK/alloc.nettrace" "$(((a1 - a0) / CALLS))" "$WORK/alloc-sites.md" 40 \
    || log "reading the allocation trace failed (see $WORK/dotnet-trace.log)"
fi

log "the pipeline's parts in process (bench/Pipeline.Benchmarks, 9 rounds), with the gateway and the simulator stopped"
stop_processes
dotnet "$PIPELINE_BENCH" 200000 2 9 >"$WORK/pipeline-bench.out" 2>"$WORK/pipeline-bench.err" \
  || log "the pipeline benchmark failed (see $WORK/pipeline-bench.err): no in-process section this run"

write_profile_facts "$WORK/facts.txt"

ARGS=(--work "$WORK" --calls "$CALLS" --concurrency "$CONC" --cpu-ticks "$((t1 - t0))" --clk-tck "$(getconf CLK_TCK)"
  --alloc-bytes "$((a1 - a0))" --command "bench/profile.sh $CALLS $CONC" --out "$ROOT/bench/PROFILE.md")
printf '%q ' "${ARGS[@]}" >"$WORK/report-args"   # re-render: python3 bench/profile_report.py $(cat report-args)
python3 "$ROOT/bench/profile_report.py" "${ARGS[@]}"
log "done: bench/PROFILE.md (raw files in $WORK)"
