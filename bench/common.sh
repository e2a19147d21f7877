# Shared by bench/run.sh and bench/profile.sh (sourced, not run). Expects ROOT, WORK, PIDS and a
# log function; defines the build outputs and the steps both scripts take the same way.

SERVER_DLL=$ROOT/src/Server/bin/Release/net10.0/Gateway.Grpc.Server.dll
SIM_DLL=$ROOT/src/Simulator/bin/Release/net10.0/Gateway.Grpc.Simulator.dll
LOADGEN=(dotnet "$ROOT/bench/LoadGen/bin/Release/net10.0/Gateway.Grpc.LoadGen.dll")
HOOK=$ROOT/bench/AllocHook/bin/Release/net10.0/Gateway.Grpc.Bench.AllocHook.dll

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

build_release() {
  log "building (Release)"
  local p f
  for p in src/Server src/Simulator bench/LoadGen bench/AllocHook; do
    dotnet build "$ROOT/$p" -c Release -v q -nologo >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
  done
  for f in "$SERVER_DLL" "$SIM_DLL" "$HOOK"; do [[ -f $f ]] || { echo "missing build output $f" >&2; exit 1; }; done
}

# start_simulator — zero think time, 20 output tokens; sets SIM_GRPC and SIM_HTTP (http://host:port).
start_simulator() {
  log "starting simulator"
  dotnet "$SIM_DLL" --http 127.0.0.1:0 --grpc 127.0.0.1:0 --ttft-ms 0 --tokens-per-second 0 \
    --output-tokens 20 --max-records 0 >"$WORK/sim.out" 2>"$WORK/sim.err" &
  PIDS+=($!)
  for _ in $(seq 1 300); do grep -q SIM_GRPC "$WORK/sim.out" 2>/dev/null && break; sleep 0.1; done
  SIM_HTTP=$(awk '/SIM_HTTP/{print $2}' "$WORK/sim.out")
  SIM_GRPC=$(awk '/SIM_GRPC/{print $2}' "$WORK/sim.out")
  [[ -n $SIM_GRPC && -n $SIM_HTTP ]] || { cat "$WORK/sim.out" "$WORK/sim.err"; echo "simulator did not start" >&2; exit 1; }
}

# bench_grpc_model_yaml — the models: entry of the gRPC hop both scripts measure (model bench-grpc,
# provider grpc, upstream the simulator's gateway.v1 endpoint); needs SIM_GRPC.
bench_grpc_model_yaml() {
  cat <<EOF
  - name: bench-grpc
    deployments:
      - name: sim-grpc
        provider: grpc
        upstreamModel: sim-small
        settings:
          base_url: $SIM_GRPC
EOF
}
