# Shared by bench/run.sh and bench/profile.sh (sourced, not run). Expects ROOT, WORK, PIDS and a
# log function; defines the build outputs and the steps both scripts take the same way.

SERVER_DLL=$ROOT/src/Server/bin/Release/net10.0/Gateway.Grpc.Server.dll
SIM_DLL=$ROOT/src/Simulator/bin/Release/net10.0/Gateway.Grpc.Simulator.dll
LOADGEN=(dotnet "$ROOT/bench/LoadGen/bin/Release/net10.0/Gateway.Grpc.LoadGen.dll")
HOOK=$ROOT/bench/AllocHook/bin/Release/net10.0/Gateway.Grpc.Bench.AllocHook.dll
PT_DLL=$ROOT/bench/Passthrough/bin/Release/net10.0/Gateway.Grpc.Bench.Passthrough.dll

# The runtime setting the gateway is deployed with (deploy/Dockerfile and the `dotnet run` launch
# profile, src/Server/Properties/launchSettings.json): a 16 MB smallest gen-0 budget. The gateway
# and the passthrough both get it, so the two still differ only in code (as they share the GC mode
# in their runtimeconfig). BENCH_GC_GEN0SIZE= (empty) runs both with the runtime's defaults.
GC_GEN0SIZE=${BENCH_GC_GEN0SIZE-0x1000000}
RUNTIME_ENV=(); [[ -z $GC_GEN0SIZE ]] || RUNTIME_ENV=("DOTNET_GCgen0size=$GC_GEN0SIZE")

# install_tools CMD:PACKAGE... — apt-get installs the packages whose command is missing.
install_tools() {
  local need=() pair
  for pair in "$@"; do command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}"); done
  if ((${#need[@]})); then
    log "installing ${need[*]}"
    local sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# build_release [PROJECT...] — Release builds of the given projects (default: everything the
# benchmark runs); fails with the build log on the first error.
build_release() {
  log "building (Release)"
  local p f projects=("$@")
  ((${#projects[@]})) || projects=(src/Server src/Simulator bench/Passthrough bench/LoadGen bench/AllocHook)
  for p in "${projects[@]}"; do
    dotnet build "$ROOT/$p" -c Release -v q -nologo >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
  done
  local -A output=([src/Server]=$SERVER_DLL [src/Simulator]=$SIM_DLL [bench/Passthrough]=$PT_DLL [bench/AllocHook]=$HOOK)
  for p in "${projects[@]}"; do
    f=${output[$p]:-}
    [[ -z $f || -f $f ]] || { echo "missing build output $f" >&2; exit 1; }
  done
}

# wait_for_gateway [tenths-of-a-second] — waits for the gateway's /healthz on GW_HTTP_PORT (default
# 1200, i.e. 120 s); if it never answers, prints the gateway's output from $WORK and exits 1.
wait_for_gateway() {
  local _i
  for _i in $(seq 1 "${1:-1200}"); do
    curl -sf "http://127.0.0.1:$GW_HTTP_PORT/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$WORK/gateway.out" "$WORK/gateway.err" 2>/dev/null
  echo "gateway did not start" >&2
  exit 1
}

# start_simulator — zero think time, 20 output tokens; sets SIM_GRPC and SIM_HTTP (http://host:port)
# and SIM_PID.
start_simulator() {
  log "starting simulator"
  dotnet "$SIM_DLL" --http 127.0.0.1:0 --grpc 127.0.0.1:0 --ttft-ms 0 --tokens-per-second 0 \
    --output-tokens 20 --max-records 0 >"$WORK/sim.out" 2>"$WORK/sim.err" &
  SIM_PID=$!
  PIDS+=($SIM_PID)
  for _ in $(seq 1 300); do grep -q SIM_GRPC "$WORK/sim.out" 2>/dev/null && break; sleep 0.1; done
  SIM_HTTP=$(awk '/SIM_HTTP/{print $2}' "$WORK/sim.out")
  SIM_GRPC=$(awk '/SIM_GRPC/{print $2}' "$WORK/sim.out")
  [[ -n $SIM_GRPC && -n $SIM_HTTP ]] || { cat "$WORK/sim.out" "$WORK/sim.err"; echo "simulator did not start" >&2; exit 1; }
}

# bench_grpc_model_yaml [MODEL DEPLOYMENT] — a models: entry for the gRPC hop the scripts measure
# (provider grpc, upstream the simulator's gateway.v1 endpoint; default model bench-grpc,
# deployment sim-grpc); needs SIM_GRPC.
bench_grpc_model_yaml() {
  cat <<EOF
  - name: ${1:-bench-grpc}
    deployments:
      - name: ${2:-sim-grpc}
        provider: grpc
        upstreamModel: sim-small
        settings:
          base_url: $SIM_GRPC
EOF
}

# start_passthrough — the bare grpc-dotnet passthrough (bench/Passthrough) in front of the
# simulator's gRPC port, with the allocation hook writing to $WORK/hook/pt-alloc.txt; sets PT_URL
# and PT_PID. Needs SIM_GRPC.
start_passthrough() {
  log "starting grpc-dotnet passthrough"
  local port; port=$(free_port)
  mkdir -p "$WORK/hook"
  BENCH_ALLOC_FILE=$WORK/hook/pt-alloc.txt DOTNET_STARTUP_HOOKS=$HOOK \
    env "${RUNTIME_ENV[@]}" dotnet "$PT_DLL" --port "$port" --upstream "$SIM_GRPC" >"$WORK/passthrough.out" 2>"$WORK/passthrough.err" &
  PT_PID=$!
  PIDS+=($PT_PID)
  for _ in $(seq 1 300); do grep -q PASSTHROUGH_GRPC "$WORK/passthrough.out" 2>/dev/null && break; sleep 0.1; done
  PT_URL=$(awk '/PASSTHROUGH_GRPC/{print $2}' "$WORK/passthrough.out")
  [[ -n $PT_URL ]] || { cat "$WORK/passthrough.out" "$WORK/passthrough.err"; echo "passthrough did not start" >&2; exit 1; }
}

# ticks_of PID... — user+system clock ticks (CLK_TCK) the processes have used so far.
ticks_of() {
  local p sum=0 t
  for p in "$@"; do
    t=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null) || t=0
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}

# splice_section FILE — puts a report section (between <!-- section:NAME --> and
# <!-- /section:NAME -->) into bench/RESULTS.md in place of the previous one; bench/run.sh keeps
# every bench/results/sections/*.md when it rewrites the report.
splice_section() {
  python3 - "$ROOT/bench/RESULTS.md" "$1" <<'PY'
import re, sys
path, section = sys.argv[1], open(sys.argv[2]).read()
text = open(path).read()
name = re.search(r"<!-- section:(\w+) -->", section).group(1)
pattern = re.compile(rf"\n?<!-- section:{name} -->.*?<!-- /section:{name} -->\n?", re.S)
text = pattern.sub("\n", text).rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
PY
}

# idle_gateway_yaml — the gateway config of the idle-stream measurements: only the gRPC models
# (bench-grpc for the warm-up, bench-idle-grpc for the streams), streams per connection raised.
# Needs SIM_GRPC.
idle_gateway_yaml() {
  cat <<EOF
logLevel: Warning
maxStreamsPerConnection: 5000
models:
$(bench_grpc_model_yaml)
$(bench_grpc_model_yaml bench-idle-grpc sim-idle-grpc)
EOF
}

# start_idle_gateway NAME — a freshly started gateway on idle_gateway_yaml, its store and output
# under $WORK/NAME.*; sets IG_GRPC_PORT, IG_HTTP_PORT and IG_PID (added to PIDS), waits for /healthz.
start_idle_gateway() {
  mkdir -p "$WORK/config"
  idle_gateway_yaml >"$WORK/config/$1.yaml"
  IG_GRPC_PORT=$(free_port); IG_HTTP_PORT=$(free_port)
  env "${RUNTIME_ENV[@]}" dotnet "$SERVER_DLL" --grpcAddress "127.0.0.1:$IG_GRPC_PORT" --httpAddress "127.0.0.1:$IG_HTTP_PORT" \
    --config "$WORK/config/$1.yaml" --store:path "$WORK/$1.db" >"$WORK/$1.out" 2>"$WORK/$1.err" &
  IG_PID=$!
  PIDS+=($IG_PID)
  GW_HTTP_PORT=$IG_HTTP_PORT wait_for_gateway
}

# start_bench_gateway [NAME=VALUE...] — starts the gateway under test on $WORK/config/gateway.yaml
# (written by the caller) on fresh loopback ports GW_GRPC_PORT and GW_HTTP_PORT, with the allocation
# hook and the runtime settings (RUNTIME_ENV), its SQLite ledger in $WORK/gateway.db (deleted by
# stop_processes) and its output in $WORK/gateway.out/.err; the arguments join its environment (the
# hook's files, perf settings). Sets GW_PID; the caller waits for it with wait_for_gateway.
start_bench_gateway() {
  GW_GRPC_PORT=$(free_port); GW_HTTP_PORT=$(free_port)
  env "$@" DOTNET_STARTUP_HOOKS="$HOOK" "${RUNTIME_ENV[@]}" dotnet "$SERVER_DLL" --grpcAddress "127.0.0.1:$GW_GRPC_PORT" \
    --httpAddress "127.0.0.1:$GW_HTTP_PORT" --store:kind sqlite --store:path "$WORK/gateway.db" \
    --config "$WORK/config/gateway.yaml" >"$WORK/gateway.out" 2>"$WORK/gateway.err" &
  GW_PID=$!
  PIDS+=($GW_PID)
}

# warm_unary URL-BASE BODY-FILE — 5 s of unary load (h2load 8 x 1) through a fresh process before
# its idle streams are measured, then 3 s for it to settle.
warm_unary() {
  h2load "$1/gateway.v1.Completion/Complete" -d "$2" -c 8 -m 1 -t 1 -D 5 \
    -H 'content-type: application/grpc' -H 'te: trailers' >/dev/null 2>&1 || echo "warm-up of $1 failed" >&2
  sleep 3
}

# write_profile_facts FILE — the machine facts both profile reports print (date, cores, runtime, perf, load).
write_profile_facts() {
  {
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo ".NET: runtime $(dotnet --list-runtimes | awk '/Microsoft.NETCore.App/{v=$2} END{print v}'); $(perf --version)"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  } >"$1"
}

# stop_processes — the EXIT cleanup the scripts share: stops every process in PIDS and waits for
# them, then deletes the gateways' SQLite stores in WORK (every benchmarked call's ledger row,
# about 3 GB after a 20-minute long run; reports are built from their own files). BENCH_KEEP_DB=1
# keeps the stores.
stop_processes() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n ${BENCH_KEEP_DB:-} ]] || rm -f "$WORK"/*.db "$WORK"/*.db-wal "$WORK"/*.db-shm
}
