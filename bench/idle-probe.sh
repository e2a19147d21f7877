#!/usr/bin/env bash
# Short idle-stream probe (not the full benchmark): a freshly started gateway (only the
# bench-idle-grpc model: provider grpc to the simulator, whose time to first token is set to
# 600 s) and the bare passthrough, each warmed with 5 s of unary load, then N idle StreamComplete
# calls opened through each (bench/LoadGen idle: RSS before and after, streams confirmed open by
# the gateway's gauge). bench/run.sh measures the same after its load points, the embedded
# idle-stream phase and (with BENCH_SOAK_MINUTES) the long run, on a process whose RSS those
# phases have grown; this probe gives the figure on a fresh process. Needs a Release build
# (bench/run.sh builds). Usage: bench/idle-probe.sh [streams]
set -euo pipefail
cd "$(dirname "$0")/.."; ROOT=$PWD
N=${1:-1000}
WORK=$(mktemp -d /tmp/gw-idle.XXXXXX); PIDS=()
log() { echo "[idle $(date +%T)] $*" >&2; }
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
. bench/common.sh
start_simulator
start_passthrough
start_idle_gateway gateway
"${LOADGEN[@]}" frame --model bench-grpc --out "$WORK/req.bin" >/dev/null
"${LOADGEN[@]}" frame --model sim-small --out "$WORK/req-pt.bin" >/dev/null
log "warm-up: 5 s of unary load through each"
warm_unary "http://127.0.0.1:$IG_GRPC_PORT" "$WORK/req.bin"
warm_unary "${PT_URL%/}" "$WORK/req-pt.bin"
curl -sf -X PUT "$SIM_HTTP/_sim/config" -d '{"ttftMs":600000}' >/dev/null
log "idle streams through the gateway (grpc provider to the simulator): $N"
"${LOADGEN[@]}" idle --url "http://127.0.0.1:$IG_GRPC_PORT" --model bench-idle-grpc --streams "$N" --pid "$IG_PID" \
  --metrics "http://127.0.0.1:$IG_HTTP_PORT/metrics" --through gateway --upstream grpc
log "idle streams through the passthrough to the simulator: $N"
"${LOADGEN[@]}" idle --url "$PT_URL" --model sim-small --streams "$N" --pid "$PT_PID" --metrics none \
  --through passthrough --upstream grpc
