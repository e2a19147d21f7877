#!/usr/bin/env bash
# One-command benchmark for issue 7: gateway vs direct simulator vs nginx (pure proxy),
# gRPC (h2load + C# load generator) and REST, memory per idle stream, allocations per request.
# Writes bench/RESULTS.md. Not part of the test suite. Usage: bench/run.sh [seconds-per-point]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DUR=${1:-5}
OUT=$ROOT/bench/results
WORK=$(mktemp -d /tmp/gw-bench.XXXXXX)
mkdir -p "$OUT"
: > "$OUT/results.jsonl"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -f $WORK/nginx/nginx.pid ]]; then nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -s stop 2>/dev/null || true; fi
  wait 2>/dev/null || true
}
trap cleanup EXIT

log() { echo "[bench $(date +%T)] $*" >&2; }

# ---- 1-3. tools, Release build, simulator ------------------------------------------------------
. "$ROOT/bench/common.sh"
install_tools h2load:nghttp2-client nginx:nginx-light
build_release
start_simulator
SIM_GRPC_PORT=${SIM_GRPC##*:}; SIM_HTTP_PORT=${SIM_HTTP##*:}
log "simulator grpc=$SIM_GRPC http=$SIM_HTTP"

# ---- 4. nginx (pure proxy, own prefix) -------------------------------------------------------
NGX_GRPC_PORT=$(free_port); NGX_HTTP_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  upstream sim_grpc { server 127.0.0.1:$SIM_GRPC_PORT; keepalive 64; keepalive_requests 100000000; }
  upstream sim_http { server 127.0.0.1:$SIM_HTTP_PORT; keepalive 64; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$NGX_GRPC_PORT http2;
    http2_max_concurrent_streams 1000;
    keepalive_requests 100000000;   # default 1000 closes h2load's connections, which -D never reopens
    location / { grpc_pass grpc://sim_grpc; }
  }
  server {
    listen 127.0.0.1:$NGX_HTTP_PORT;
    keepalive_requests 100000000;
    location / { proxy_pass http://sim_http; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
log "nginx grpc=:$NGX_GRPC_PORT http=:$NGX_HTTP_PORT"

# ---- 5. gateway ------------------------------------------------------------------------------
GW_GRPC_PORT=$(free_port); GW_HTTP_PORT=$(free_port)
export BENCH_OPENAI_KEY=bench-not-a-secret
# The config gets a directory of its own, apart from the logs and hook files this script writes
# (earlier gateway builds watched a directory tree for changes; none is watched now).
mkdir -p "$WORK/config"
cat >"$WORK/config/gateway.yaml" <<EOF
logLevel: Warning
maxStreamsPerConnection: 5000
models:
$(bench_grpc_model_yaml)
  - name: bench-rest
    deployments:
      - name: sim-openai
        provider: openai
        upstreamModel: gpt-4o-mini
        settings:
          base_url: $SIM_HTTP/v1
          api_key: env:BENCH_OPENAI_KEY
  - name: bench-idle
    deployments:
      - name: sim-idle
        provider: simulated
        upstreamModel: sim-small
        settings: { ttft_ms: "600000" }
EOF
log "starting gateway"
mkdir -p "$WORK/hook"
BENCH_ALLOC_FILE=$WORK/hook/alloc.txt DOTNET_STARTUP_HOOKS=$HOOK \
  dotnet "$SERVER_DLL" --grpcAddress 127.0.0.1:$GW_GRPC_PORT --httpAddress 127.0.0.1:$GW_HTTP_PORT \
  --config "$WORK/config/gateway.yaml" >"$WORK/gateway.out" 2>"$WORK/gateway.err" &
GW_PID=$!
PIDS+=($GW_PID)
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$GW_HTTP_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$GW_HTTP_PORT/healthz" >/dev/null || { cat "$WORK/gateway.out" "$WORK/gateway.err"; echo "gateway did not start" >&2; exit 1; }
sleep 2
"${LOADGEN[@]}" rss --pid "$GW_PID" --label "gateway idle (just started)" --out "$OUT/results.jsonl" >/dev/null

declare -A GRPC_URL=([direct]=$SIM_GRPC [nginx]=http://127.0.0.1:$NGX_GRPC_PORT [gateway]=http://127.0.0.1:$GW_GRPC_PORT)
declare -A GRPC_MODEL=([direct]=sim-small [nginx]=sim-small [gateway]=bench-grpc)
declare -A REST_URL=([direct]=$SIM_HTTP [nginx]=http://127.0.0.1:$NGX_HTTP_PORT [gateway]=http://127.0.0.1:$GW_HTTP_PORT)
declare -A REST_MODEL=([direct]=gpt-4o-mini [nginx]=gpt-4o-mini [gateway]=bench-rest)
TARGETS=(direct nginx gateway)

# ---- 6. gRPC unary, h2load -------------------------------------------------------------------
for t in "${TARGETS[@]}"; do
  "${LOADGEN[@]}" frame --model "${GRPC_MODEL[$t]}" --out "$WORK/req-$t.bin" >/dev/null
done
h2_point() { # kind target url-path body-file c m extra-args...
  local kind=$1 t=$2 url=$3 body=$4 c=$5 m=$6; shift 6
  local tag=$kind-$t-c$c
  h2load "$url" -d "$body" -c "$c" -m "$m" -t 1 -D "$DUR" --warm-up-time=1 --log-file="$WORK/$tag.log" "$@" >"$WORK/$tag.txt" 2>&1 || true
  "${LOADGEN[@]}" h2load --log "$WORK/$tag.log" --stdout "$WORK/$tag.txt" --label "$tag" --kind "$kind" \
    --target "$t" --concurrency "$c x $m" --url "$url" --out "$OUT/results.jsonl" >/dev/null
  grep -E "req/s|requests:|status codes" "$WORK/$tag.txt" | sed "s/^/  $tag: /" >&2 || true
}
# Warm-up: the simulator and the gateway are .NET processes whose tiered JIT settles on its final
# code only after some seconds of load; every target (nginx too) gets the same warm-up, so the
# points below measure steady state, not the JIT.
log "warm-up: ${WARM:-15}s gRPC + 5s REST per target"
printf '{"model":"%s","messages":[{"role":"user","content":"warm-up"}]}' gpt-4o-mini >"$WORK/warm-rest-direct.json"
printf '{"model":"%s","messages":[{"role":"user","content":"warm-up"}]}' bench-rest >"$WORK/warm-rest-gateway.json"
for t in "${TARGETS[@]}"; do
  h2load "${GRPC_URL[$t]}/gateway.v1.Completion/Complete" -d "$WORK/req-$t.bin" -c 4 -m 4 -t 1 -D "${WARM:-15}" \
    -H 'content-type: application/grpc' -H 'te: trailers' >/dev/null 2>&1 || true
  body=$WORK/warm-rest-direct.json; auth=(-H 'authorization: Bearer bench')
  [[ $t == gateway ]] && { body=$WORK/warm-rest-gateway.json; auth=(); }
  h2load "${REST_URL[$t]}/v1/chat/completions" -d "$body" -c 4 -t 1 -D 5 --h1 -H 'content-type: application/json' \
    "${auth[@]}" >/dev/null 2>&1 || true
done
LEVELS=("1 1" "10 10" "50 20")
log "gRPC unary with h2load (${DUR}s per point)"
for lv in "${LEVELS[@]}"; do
  read -r c m <<<"$lv"
  for t in "${TARGETS[@]}"; do
    h2_point grpc-unary "$t" "${GRPC_URL[$t]}/gateway.v1.Completion/Complete" "$WORK/req-$t.bin" "$c" "$m" \
      -H 'content-type: application/grpc' -H 'te: trailers'
  done
done
# h2load cannot see grpc-status; the C# load generator below sends the same request (plus one
# sample call that must succeed) and counts every non-OK status as an error.

# ---- 7. REST, h2load --h1 --------------------------------------------------------------------
printf '{"model":"%s","messages":[{"role":"user","content":"Say hello to the benchmark in a few words."}]}' gpt-4o-mini >"$WORK/rest-direct.json"
cp "$WORK/rest-direct.json" "$WORK/rest-nginx.json"
printf '{"model":"%s","messages":[{"role":"user","content":"Say hello to the benchmark in a few words."}]}' bench-rest >"$WORK/rest-gateway.json"
log "REST with h2load --h1"
for lv in "1 1" "10 1" "50 1"; do
  read -r c m <<<"$lv"
  for t in "${TARGETS[@]}"; do
    auth=(-H 'authorization: Bearer bench'); [[ $t == gateway ]] && auth=()  # open dev mode: no key
    h2_point rest "$t" "${REST_URL[$t]}/v1/chat/completions" "$WORK/rest-$t.json" "$c" "$m" --h1 \
      -H 'content-type: application/json' "${auth[@]}"
  done
done

# ---- 8. C# load generator: gRPC unary + stream, REST -----------------------------------------
log "C# load generator"
for c in 1 50; do
  for mode in unary stream; do
    for t in "${TARGETS[@]}"; do
      extra=(); [[ $t == gateway ]] && extra=(--alloc-file "$WORK/hook/alloc.txt")
      "${LOADGEN[@]}" grpc --url "${GRPC_URL[$t]}" --model "${GRPC_MODEL[$t]}" --mode "$mode" --c "$c" \
        --duration "$DUR" --target "$t" --concurrency "$c" --label "lg-$mode-$t-c$c" "${extra[@]}" \
        --out "$OUT/results.jsonl" | sed "s/^/  /" >&2
    done
  done
done
for c in 1 50; do
  for t in "${TARGETS[@]}"; do
    auth="Bearer bench"; [[ $t == gateway ]] && auth=none
    "${LOADGEN[@]}" rest --url "${REST_URL[$t]}" --model "${REST_MODEL[$t]}" --c "$c" --duration "$DUR" --auth "$auth" \
      --target "$t" --concurrency "$c" --label "lg-rest-$t-c$c" --out "$OUT/results.jsonl" | sed "s/^/  /" >&2
  done
done

# ---- 9. memory: idle RSS and idle streams ----------------------------------------------------
sleep 3
"${LOADGEN[@]}" rss --pid "$GW_PID" --label "gateway 3 s after the load (before the idle trim)" --out "$OUT/results.jsonl" >/dev/null
# idleTrimSeconds (default 15): after that long without calls the gateway compacts its heap once.
sleep 20
"${LOADGEN[@]}" rss --pid "$GW_PID" --label "gateway idle (after warm-up: 23 s after the load, idle trim done)" --out "$OUT/results.jsonl" >/dev/null
for n in 1000 10000; do
  log "idle streams: $n"
  "${LOADGEN[@]}" idle --url "${GRPC_URL[gateway]}" --model bench-idle --streams "$n" --pid "$GW_PID" \
    --metrics "http://127.0.0.1:$GW_HTTP_PORT/metrics" --out "$OUT/results.jsonl" | sed "s/^/  /" >&2 || log "idle $n failed"
done

# ---- 9b. tokenizer vs npm tiktoken --------------------------------------------------------------
# Same texts and loop on both sides (bench/Tokenizer.Benchmarks/README.md), rounds interleaved so
# both see the same machine state.
if bash "$ROOT/scripts/deps/tokenizer.sh" >"$WORK/tok-fetch.log" 2>&1 \
  && dotnet build "$ROOT/bench/Tokenizer.Benchmarks" -c Release -v q -nologo >"$WORK/tok-build.log" 2>&1; then
  log "tokenizer vs npm tiktoken (3 interleaved rounds)"
  for _ in 1 2 3; do
    node "$ROOT/bench/Tokenizer.Benchmarks/npm-tiktoken.js" 1 >>"$WORK/tok.txt"
    dotnet "$ROOT/bench/Tokenizer.Benchmarks/bin/Release/net10.0/Tokenizer.Benchmarks.dll" --quick 1 >>"$WORK/tok.txt"
  done
  python3 - "$WORK/tok.txt" >>"$OUT/results.jsonl" <<'PY'
import json, re, sys
for line in open(sys.argv[1]):
    m = re.match(r"(npm|dotnet)\s+(\S+)\s+(\S+)\s+\d+ B\s+\d+ tok\s+([\d.]+) us/op", line)
    if m:
        print(json.dumps({"kind": "tokenizer", "side": m.group(1), "encoding": m.group(2), "corpus": m.group(3), "us_per_op": float(m.group(4))}))
PY
else
  log "npm tiktoken or the benchmark build unavailable (see $WORK/tok-fetch.log, $WORK/tok-build.log); tokenizer skipped"
fi

# ---- 10. report ------------------------------------------------------------------------------
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "nproc: $(nproc)"
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "memory: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "OS: $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo ".NET: SDK $(dotnet --version), runtime $(dotnet --list-runtimes | awk '/Microsoft.NETCore.App/{v=$2} END{print v}')"
  echo "h2load: $(h2load --version 2>&1 | head -1); nginx: $(nginx -v 2>&1 | cut -d/ -f2)"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (includes the benchmark's own load)"
  echo "seconds per point: $DUR (plus 1 s warm-up)"
} >"$OUT/facts.txt"
"${LOADGEN[@]}" report --in "$OUT/results.jsonl" --facts "$OUT/facts.txt" --command "bench/run.sh $DUR" \
  --notes "$ROOT/bench/NOTES.md" --out "$ROOT/bench/RESULTS.md"
log "done: bench/RESULTS.md"
# The hot-path profile (perf, syscalls, allocations by type) goes to bench/PROFILE.md.
if [[ ${BENCH_PROFILE:-1} == 1 ]]; then
  cleanup; PIDS=()
  "$ROOT/bench/profile.sh" 20000 1
fi
