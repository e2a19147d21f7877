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
GW_GRPC_PORT=$(free_port); GW_HTTP_PORT=$(free_port)
mkdir -p "$WORK/config"
cat >"$WORK/config/gateway.yaml" <<EOC
logLevel: Warning
maxStreamsPerConnection: 5000
models:
$(bench_grpc_model_yaml)
$(bench_grpc_model_yaml bench-idle-grpc sim-idle-grpc)
EOC
dotnet "$SERVER_DLL" --grpcAddress 127.0.0.1:$GW_GRPC_PORT --httpAddress 127.0.0.1:$GW_HTTP_PORT \
  --config "$WORK/config/gateway.yaml" --store:path "$WORK/gateway.db" >"$WORK/gateway.out" 2>"$WORK/gateway.err" &
GW_PID=$!; PIDS+=($GW_PID)
wait_for_gateway
"${LOADGEN[@]}" frame --model bench-grpc --out "$WORK/req.bin" >/dev/null
"${LOADGEN[@]}" frame --model sim-small --out "$WORK/req-pt.bin" >/dev/null
log "warm-up: 5 s of unary load through each"
h2load "http://127.0.0.1:$GW_GRPC_PORT/gateway.v1.Completion/Complete" -d "$WORK/req.bin" -c 8 -m 1 -t 1 -D 5 \
  -H 'content-type: application/grpc' -H 'te: trailers' >/dev/null
h2load "${PT_URL%/}/gateway.v1.Completion/Complete" -d "$WORK/req-pt.bin" -c 8 -m 1 -t 1 -D 5 \
  -H 'content-type: application/grpc' -H 'te: trailers' >/dev/null
sleep 3
curl -sf -X PUT "$SIM_HTTP/_sim/config" -d '{"ttftMs":600000}' >/dev/null
log "idle streams through the gateway (grpc provider to the simulator): $N"
"${LOADGEN[@]}" idle --url "http://127.0.0.1:$GW_GRPC_PORT" --model bench-idle-grpc --streams "$N" --pid "$GW_PID" \
  --metrics "http://127.0.0.1:$GW_HTTP_PORT/metrics" --through gateway --upstream grpc
log "idle streams through the passthrough to the simulator: $N"
"${LOADGEN[@]}" idle --url "$PT_URL" --model sim-small --streams "$N" --pid "$PT_PID" --metrics none \
  --through passthrough --upstream grpc
