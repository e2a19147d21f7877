#!/usr/bin/env bash
# Where the gateway's CPU per call goes beyond the bare grpc-dotnet passthrough's, side by side:
# gRPC unary `Complete` at the point issue 11's CPU target names (h2load 8 connections x 8
# streams), through the gateway (model bench-grpc, provider grpc) and through bench/Passthrough,
# both to the provider simulator's gateway.v1 endpoint (zero think time, 20 output tokens).
#   - CPU per call of each process from /proc/PID/stat over interleaved rounds without perf;
#   - `perf record -g` of each process under the same load, every sample put in one bucket by its
#     innermost frame (bench/perf_buckets.py, the buckets of PROFILE.md, with the gateway's own
#     assemblies and OpenTelemetry apart); the CPU per call is spread over the buckets by share.
# Writes bench/PROFILE-DIFF.md. Not part of the test suite.
# Usage: bench/profile-diff.sh [seconds-per-round] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${1:-10}
ROUNDS=${2:-3}
WORK=$(mktemp -d /tmp/gw-profile-diff.XXXXXX)
PIDS=()
log() { echo "[profile-diff $(date +%T)] $*" >&2; }

. "$ROOT/bench/common.sh"
trap stop_processes EXIT
install_tools h2load:nghttp2-client perf:linux-perf
build_release
start_simulator
# Both measured processes name their JIT'd frames for perf and carry the allocation hook (as in
# bench/run.sh), so they differ only in code.
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
start_passthrough

mkdir -p "$WORK/config"
cat >"$WORK/config/gateway.yaml" <<EOF
logLevel: Warning
maxStreamsPerConnection: 5000
models:
$(bench_grpc_model_yaml)
EOF
start_bench_gateway BENCH_ALLOC_FILE="$WORK/hook/gw-alloc.txt"
wait_for_gateway 300

"${LOADGEN[@]}" frame --model bench-grpc --out "$WORK/req-gateway.bin" >/dev/null
"${LOADGEN[@]}" frame --model sim-small --out "$WORK/req-passthrough.bin" >/dev/null
declare -A URL=([passthrough]=${PT_URL%/} [gateway]=http://127.0.0.1:$GW_GRPC_PORT) PID=([passthrough]=$PT_PID [gateway]=$GW_PID)
declare -A ALLOC=([passthrough]=$WORK/hook/pt-alloc.txt [gateway]=$WORK/hook/gw-alloc.txt)
allocated() { awk '{print $1}' "${ALLOC[$1]}"; }
load() { # target seconds
  h2load "${URL[$1]}/gateway.v1.Completion/Complete" -d "$WORK/req-$1.bin" -c 8 -m 8 -t 1 -D "$2" \
    -H 'content-type: application/grpc' -H 'te: trailers'
}

log "warm-up: 15 s of load through each (tiered JIT reaches its final code)"
for t in passthrough gateway; do load "$t" 15 >/dev/null; done

log "CPU per call: $ROUNDS interleaved rounds of $SECS s"
: >"$WORK/rounds.txt"
for r in $(seq "$ROUNDS"); do
  for t in passthrough gateway; do
    t0=$(ticks_of "${PID[$t]}"); a0=$(allocated "$t")
    load "$t" "$SECS" >"$WORK/h2-$t-$r.txt"
    t1=$(ticks_of "${PID[$t]}"); sleep 0.3; a1=$(allocated "$t")
    ok=$(awk '/requests:/{print $8}' "$WORK/h2-$t-$r.txt")
    rps=$(awk '/finished in/{print $4}' "$WORK/h2-$t-$r.txt")
    echo "$r $t $((t1 - t0)) $ok $rps $((a1 - a0))" >>"$WORK/rounds.txt"
    log "  round $r $t: $rps req/s"
  done
done

log "perf record, 8 s of load each"
for t in passthrough gateway; do
  load "$t" 10 >"$WORK/h2-perf-$t.txt" &
  LOAD_PID=$!
  sleep 1
  perf record -F 999 -g -p "${PID[$t]}" -o "$WORK/perf-$t.data" -- sleep 8 >/dev/null 2>&1 || true
  wait "$LOAD_PID" || true
  perf script -i "$WORK/perf-$t.data" -F comm,ip,sym,dso 2>/dev/null >"$WORK/perf-$t.txt"
done

write_profile_facts "$WORK/facts.txt"
python3 "$ROOT/bench/profile_diff.py" --work "$WORK" --clk-tck "$(getconf CLK_TCK)" \
  --command "bench/profile-diff.sh $SECS $ROUNDS" --out "$ROOT/bench/PROFILE-DIFF.md"
log "done: bench/PROFILE-DIFF.md (raw files in $WORK)"
