#!/usr/bin/env bash
# One-command benchmark for issues 7 and 11: gateway vs direct simulator vs nginx (pure proxy) vs
# a bare grpc-dotnet passthrough (the library floor, bench/Passthrough) vs Portkey OSS (REST),
# gRPC (h2load + C# load generator) and REST, CPU and allocations per call, memory per idle
# stream. Writes bench/RESULTS.md. Not part of the test suite.
# Usage: bench/run.sh [seconds-per-point]
#   BENCH_SOAK_MINUTES=20  also run N minutes of mixed load through the gateway, then read its
#                          idle RSS once the idle trim has run (25 s) and once the tokenizer
#                          vocabularies are released too (130 s; issue 11's long-run RSS target)
#   BENCH_ONLY=passthrough smoke of the passthrough column only: simulator + passthrough, gRPC
#                          points and idle streams, report in the work directory (bench/ untouched)
#   BENCH_PORTKEY=0        skip Portkey (otherwise npm-installed once into ~/.cache/gw-bench)
#   WARM=15                seconds of gRPC warm-up per target
#   BENCH_ROUNDS=3         interleaved rounds of the h2load gRPC unary and REST points (the report
#                          shows per-field medians; ratios are the medians of the per-round ones)
#   BENCH_PROFILE=0        skip the profiles run at the end (bench/profile.sh -> PROFILE.md,
#                          bench/profile-diff.sh -> PROFILE-DIFF.md)
#   BENCH_KEEP_DB=1        keep the gateways' SQLite stores in the work directory (deleted by default)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DUR=${1:-5}
ONLY=${BENCH_ONLY:-}
SOAK_MIN=${BENCH_SOAK_MINUTES:-0}
ROUNDS=${BENCH_ROUNDS:-3}
ROUND=
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS: a positive whole number, got '$ROUNDS'" >&2; exit 2; }
case $ONLY in "" | passthrough) ;; *) echo "BENCH_ONLY: only 'passthrough' is known" >&2; exit 2 ;; esac
WORK=$(mktemp -d /tmp/gw-bench.XXXXXX)
# The long run writes about 150 MB of ledger per minute into $WORK: refuse to start without room
# for it (a full disk aborts every process mid-run and leaves no report).
NEED_MB=$((2048 + SOAK_MIN * 200))
FREE_MB=$(df -Pm "$WORK" | awk 'NR == 2 {print $4}')
if ((FREE_MB < NEED_MB)); then
  rmdir "$WORK"
  echo "bench: /tmp has ${FREE_MB} MB free, this run needs about ${NEED_MB} MB (old /tmp/gw-bench.* directories can go)" >&2
  exit 2
fi
OUT=$ROOT/bench/results
[[ -z $ONLY ]] || OUT=$WORK/results
mkdir -p "$OUT"
: > "$OUT/results.jsonl"
PIDS=()
cleanup() {
  if [[ -f $WORK/nginx/nginx.pid ]]; then nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -s stop 2>/dev/null || true; fi
  stop_processes
}
trap cleanup EXIT


log() { echo "[bench $(date +%T)] $*" >&2; }

# ---- 1-3. tools, Release build, simulator, passthrough ---------------------------------------
. "$ROOT/bench/common.sh"
CLK_TCK=$(getconf CLK_TCK)
if [[ -z $ONLY ]]; then
  install_tools h2load:nghttp2-client nginx:nginx-light
  build_release
else
  install_tools h2load:nghttp2-client
  build_release src/Simulator bench/Passthrough bench/LoadGen bench/AllocHook
fi
start_simulator
SIM_GRPC_PORT=${SIM_GRPC##*:}; SIM_HTTP_PORT=${SIM_HTTP##*:}
log "simulator grpc=$SIM_GRPC http=$SIM_HTTP"
start_passthrough
log "passthrough grpc=$PT_URL"

# Per target: gRPC and REST address and model, and the processes whose CPU a point charges to it.
declare -A GRPC_URL=([direct]=$SIM_GRPC [passthrough]=$PT_URL)
declare -A GRPC_MODEL=([direct]=sim-small [nginx]=sim-small [passthrough]=sim-small [gateway]=bench-grpc)
declare -A REST_URL=([direct]=$SIM_HTTP)
declare -A REST_MODEL=([direct]=gpt-4o-mini [nginx]=gpt-4o-mini [portkey]=gpt-4o-mini [gateway]=bench-rest)
declare -A CPU_PIDS=([direct]=$SIM_PID [passthrough]=$PT_PID)
TARGETS=(direct passthrough)
REST_TARGETS=(direct)

if [[ -z $ONLY ]]; then
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
for _ in $(seq 1 50); do [[ -s $WORK/nginx/nginx.pid ]] && break; sleep 0.1; done
sleep 0.5
NGX_MASTER=$(cat "$WORK/nginx/nginx.pid")
CPU_PIDS[nginx]="$NGX_MASTER $(pgrep -P "$NGX_MASTER" | tr '\n' ' ')"
log "nginx grpc=:$NGX_GRPC_PORT http=:$NGX_HTTP_PORT (pids ${CPU_PIDS[nginx]})"

# ---- 4b. Portkey OSS (REST only) ---------------------------------------------------------------
# The npm package @portkey-ai/gateway (Node), provider openai with the simulator as custom host.
PORTKEY_VERSION=1.15.2
PORTKEY_DIR=${BENCH_PORTKEY_DIR:-$HOME/.cache/gw-bench/portkey-$PORTKEY_VERSION}
PORTKEY_JS=$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js
start_portkey() {
  if [[ ! -f $PORTKEY_JS ]]; then
    command -v npm >/dev/null || return 1
    log "installing @portkey-ai/gateway@$PORTKEY_VERSION into $PORTKEY_DIR"
    mkdir -p "$PORTKEY_DIR"
    npm install --prefix "$PORTKEY_DIR" --no-audit --no-fund --silent "@portkey-ai/gateway@$PORTKEY_VERSION" \
      >"$WORK/portkey-npm.log" 2>&1 || return 1
  fi
  local port; port=$(free_port)
  NODE_ENV=production node "$PORTKEY_JS" --port="$port" --headless >"$WORK/portkey.out" 2>&1 &
  PK_PID=$!
  PIDS+=($PK_PID)
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 || return 1
  REST_URL[portkey]=http://127.0.0.1:$port
  CPU_PIDS[portkey]=$PK_PID
  REST_TARGETS+=(portkey)
  log "portkey http=:$port"
}
if [[ ${BENCH_PORTKEY:-1} == 1 ]]; then
  start_portkey || log "Portkey unavailable (npm or start-up failed, see $WORK/portkey-npm.log / portkey.out); its column is skipped"
fi

# ---- 5. gateway ------------------------------------------------------------------------------
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
  # Idle streams through a real upstream: the simulator's gateway.v1 port, made slow (time to
  # first token 600 s) through its /_sim/config only for that phase.
$(bench_grpc_model_yaml bench-idle-grpc sim-idle-grpc)
EOF
log "starting gateway"
mkdir -p "$WORK/hook"
start_bench_gateway BENCH_ALLOC_FILE="$WORK/hook/alloc.txt"
wait_for_gateway
sleep 2
"${LOADGEN[@]}" rss --pid "$GW_PID" --label "gateway idle (just started)" --out "$OUT/results.jsonl" >/dev/null

GRPC_URL[nginx]=http://127.0.0.1:$NGX_GRPC_PORT; GRPC_URL[gateway]=http://127.0.0.1:$GW_GRPC_PORT
REST_URL[nginx]=http://127.0.0.1:$NGX_HTTP_PORT; REST_URL[gateway]=http://127.0.0.1:$GW_HTTP_PORT
CPU_PIDS[gateway]=$GW_PID
TARGETS=(direct nginx passthrough gateway)
REST_TARGETS+=(nginx gateway)
fi

# ---- 6. gRPC unary, h2load -------------------------------------------------------------------
for t in "${TARGETS[@]}"; do
  "${LOADGEN[@]}" frame --model "${GRPC_MODEL[$t]}" --out "$WORK/req-$t.bin" >/dev/null
done
# h2_point also charges CPU to the target: clock ticks of its processes (CPU_PIDS) from just after
# h2load's 1 s warm-up to its end, divided by the calls its --log-file records as completed in that
# window (the log holds only post-warm-up calls).
h2_point() { # kind target url-path body-file c m extra-args...
  local kind=$1 t=$2 url=$3 body=$4 c=$5 m=$6; shift 6
  local tag=$kind-$t-c$c pids=() cpu=() h2 since t0 t1
  read -r -a pids <<<"${CPU_PIDS[$t]:-}"
  h2load "$url" -d "$body" -c "$c" -m "$m" -t 1 -D "$DUR" --warm-up-time=1 --log-file="$WORK/$tag.log" "$@" >"$WORK/$tag.txt" 2>&1 &
  h2=$!
  sleep 1.5
  since=$(date +%s%6N); t0=$(ticks_of "${pids[@]}")
  wait "$h2" || true
  t1=$(ticks_of "${pids[@]}")
  ((${#pids[@]})) && cpu=(--cpu-ticks "$((t1 - t0))" --clk-tck "$CLK_TCK" --cpu-since-us "$since")
  "${LOADGEN[@]}" h2load --log "$WORK/$tag.log" --stdout "$WORK/$tag.txt" --label "$tag" --kind "$kind" \
    --target "$t" --concurrency "$c x $m" --url "$url" "${cpu[@]}" ${ROUND:+--round "$ROUND"} --out "$OUT/results.jsonl" >/dev/null
  grep -E "req/s|requests:|status codes" "$WORK/$tag.txt" | sed "s/^/  $tag: /" >&2 || true
}
# rest_headers TARGET — the auth (and, for Portkey, routing) headers a REST call to it needs.
rest_headers() {
  case $1 in
    gateway) ;; # open dev mode: no key
    portkey) printf '%s\n' -H 'authorization: Bearer bench' -H 'x-portkey-provider: openai' -H "x-portkey-custom-host: $SIM_HTTP/v1" ;;
    *) printf '%s\n' -H 'authorization: Bearer bench' ;;
  esac
}
# Warm-up: the simulator and the gateway are .NET processes whose tiered JIT settles on its final
# code only after some seconds of load; every target (nginx too) gets the same warm-up, so the
# points below measure steady state, not the JIT.
log "warm-up: ${WARM:-15}s gRPC + 5s REST per target"
for t in "${TARGETS[@]}"; do
  h2load "${GRPC_URL[$t]}/gateway.v1.Completion/Complete" -d "$WORK/req-$t.bin" -c 4 -m 4 -t 1 -D "${WARM:-15}" \
    -H 'content-type: application/grpc' -H 'te: trailers' >/dev/null 2>&1 || true
done
for t in "${REST_TARGETS[@]}"; do
  printf '{"model":"%s","messages":[{"role":"user","content":"warm-up"}]}' "${REST_MODEL[$t]}" >"$WORK/warm-rest-$t.json"
  mapfile -t hdr < <(rest_headers "$t")
  h2load "${REST_URL[$t]}/v1/chat/completions" -d "$WORK/warm-rest-$t.json" -c 4 -t 1 -D 5 --h1 \
    -H 'content-type: application/json' "${hdr[@]}" >/dev/null 2>&1 || true
done
# 8 x 8 = 64 calls in flight is the point issue 11's throughput and CPU targets name.
LEVELS=("1 1" "8 8" "10 10" "50 20")
# Unary points run in ROUNDS interleaved rounds (ROUND tags their rows; the report takes medians).
for kind in unary stream; do
  method=Complete; rounds=$ROUNDS
  [[ $kind == stream ]] && { method=StreamComplete; rounds=1; }
  for round in $(seq 1 "$rounds"); do
    ROUND=; if ((rounds > 1)); then ROUND=$round; fi
    log "gRPC $kind with h2load (${DUR}s per point${ROUND:+, round $round of $rounds})"
    for lv in "${LEVELS[@]}"; do
      read -r c m <<<"$lv"
      for t in "${TARGETS[@]}"; do
        h2_point "grpc-$kind" "$t" "${GRPC_URL[$t]}/gateway.v1.Completion/$method" "$WORK/req-$t.bin" "$c" "$m" \
          -H 'content-type: application/grpc' -H 'te: trailers'
      done
    done
  done
done
ROUND=
# h2load cannot see grpc-status; the C# load generator below sends the same request (plus one
# sample call that must succeed) and counts every non-OK status as an error.

# ---- 7. REST, h2load --h1 --------------------------------------------------------------------
# 32 connections is the point issue 11's REST targets name. (The smoke has no REST targets.)
REST_LEVELS=("1 1" "10 1" "32 1" "50 1"); [[ -z $ONLY ]] || REST_LEVELS=()
for round in $(seq 1 "$ROUNDS"); do
  ((${#REST_LEVELS[@]})) || break
  ROUND=; if ((ROUNDS > 1)); then ROUND=$round; fi
  log "REST with h2load --h1${ROUND:+ (round $round of $ROUNDS)}"
  for lv in "${REST_LEVELS[@]}"; do
    read -r c m <<<"$lv"
    for t in "${REST_TARGETS[@]}"; do
      printf '{"model":"%s","messages":[{"role":"user","content":"Say hello to the benchmark in a few words."}]}' "${REST_MODEL[$t]}" >"$WORK/rest-$t.json"
      mapfile -t hdr < <(rest_headers "$t")
      h2_point rest "$t" "${REST_URL[$t]}/v1/chat/completions" "$WORK/rest-$t.json" "$c" "$m" --h1 \
        -H 'content-type: application/json' "${hdr[@]}"
    done
  done
done
ROUND=

# ---- 8. C# load generator: gRPC unary + stream, REST -----------------------------------------
# Allocations per call come from the hook in the gateway and the passthrough (bench/AllocHook).
log "C# load generator"
declare -A ALLOC_FILE=([gateway]=$WORK/hook/alloc.txt [passthrough]=$WORK/hook/pt-alloc.txt)
for c in 1 64; do
  for mode in unary stream; do
    for t in "${TARGETS[@]}"; do
      extra=(); [[ -n ${ALLOC_FILE[$t]:-} ]] && extra=(--alloc-file "${ALLOC_FILE[$t]}")
      "${LOADGEN[@]}" grpc --url "${GRPC_URL[$t]}" --model "${GRPC_MODEL[$t]}" --mode "$mode" --c "$c" \
        --duration "$DUR" --target "$t" --concurrency "$c" --label "lg-$mode-$t-c$c" "${extra[@]}" \
        --out "$OUT/results.jsonl" | sed "s/^/  /" >&2
    done
  done
done
# Portkey is left out here: the load generator sends no routing headers; h2load covers it above.
for c in 1 32; do
  [[ -z $ONLY ]] || break
  for t in "${REST_TARGETS[@]}"; do
    [[ $t == portkey ]] && continue
    auth="Bearer bench"; [[ $t == gateway ]] && auth=none
    "${LOADGEN[@]}" rest --url "${REST_URL[$t]}" --model "${REST_MODEL[$t]}" --c "$c" --duration "$DUR" --auth "$auth" \
      --target "$t" --concurrency "$c" --label "lg-rest-$t-c$c" --out "$OUT/results.jsonl" | sed "s/^/  /" >&2
  done
done

# ---- 9. memory: idle RSS, long run, idle streams ----------------------------------------------
IDLE_TRIM_WAIT=25   # idleTrimSeconds (default 15) + margin: the gateway compacts its heap once idle
TOKENIZER_IDLE_WAIT=130   # tokenizerIdleSeconds (default 120) + margin: it lets go of the tokenizer vocabularies
if [[ -z $ONLY ]]; then
  sleep 3
  "${LOADGEN[@]}" rss --pid "$GW_PID" --label "gateway 3 s after the load (before the idle trim)" --out "$OUT/results.jsonl" >/dev/null
  sleep 20
  "${LOADGEN[@]}" rss --pid "$GW_PID" --label "gateway idle (after warm-up: 23 s after the load, idle trim done)" --out "$OUT/results.jsonl" >/dev/null
  if ((SOAK_MIN > 0)); then
    # Sustained mixed load (gRPC unary 8x8 with h2load, gRPC streams and REST with 8 workers each,
    # all at once) for N minutes, then the idle reading issue 11 asks for after a long run.
    secs=$((SOAK_MIN * 60))
    log "long run: $SOAK_MIN min of mixed load through the gateway"
    h2load "${GRPC_URL[gateway]}/gateway.v1.Completion/Complete" -d "$WORK/req-gateway.bin" -c 8 -m 8 -t 1 -D "$secs" \
      -H 'content-type: application/grpc' -H 'te: trailers' >"$WORK/soak-h2load.txt" 2>&1 &
    s1=$!
    "${LOADGEN[@]}" grpc --url "${GRPC_URL[gateway]}" --model bench-grpc --mode stream --c 8 --duration "$secs" --warmup 0 \
      --label soak-grpc-stream-c8 --out "$OUT/results.jsonl" >"$WORK/soak-stream.txt" 2>&1 &
    s2=$!
    "${LOADGEN[@]}" rest --url "${REST_URL[gateway]}" --model bench-rest --c 8 --duration "$secs" --warmup 0 --auth none \
      --label soak-rest-c8 --out "$OUT/results.jsonl" >"$WORK/soak-rest.txt" 2>&1 &
    s3=$!
    wait "$s1" || true; wait "$s2" || log "soak stream load failed: $(tail -2 "$WORK/soak-stream.txt")"
    wait "$s3" || log "soak REST load failed: $(tail -2 "$WORK/soak-rest.txt")"
    "${LOADGEN[@]}" h2load --stdout "$WORK/soak-h2load.txt" --label soak-h2load-grpc-unary-c64 --kind soak \
      --url "${GRPC_URL[gateway]}" --out "$OUT/results.jsonl" >/dev/null
    "${LOADGEN[@]}" rss --pid "$GW_PID" --label "gateway right after the $SOAK_MIN-minute load run" --phase soak-end \
      --minutes "$SOAK_MIN" --out "$OUT/results.jsonl" >/dev/null
    sleep "$IDLE_TRIM_WAIT"
    "${LOADGEN[@]}" rss --pid "$GW_PID" --label "gateway idle after the $SOAK_MIN-minute load run ($IDLE_TRIM_WAIT s later: idle trim done, tokenizer vocabularies still loaded)" \
      --phase soak-idle-trim --minutes "$SOAK_MIN" --out "$OUT/results.jsonl" >/dev/null
    # tokenizerIdleSeconds (default 120) of quiet releases the tokenizer vocabularies (~40 MB) and trims again.
    log "waiting for the tokenizer release ($((TOKENIZER_IDLE_WAIT - IDLE_TRIM_WAIT)) s more)"
    sleep "$((TOKENIZER_IDLE_WAIT - IDLE_TRIM_WAIT))"
    "${LOADGEN[@]}" rss --pid "$GW_PID" --label "gateway idle after the $SOAK_MIN-minute load run ($TOKENIZER_IDLE_WAIT s later: idle trim and tokenizer release done)" \
      --phase soak-idle --minutes "$SOAK_MIN" --out "$OUT/results.jsonl" >/dev/null
  fi
  for n in 1000 10000; do
    log "idle streams through the gateway, embedded simulated provider: $n"
    "${LOADGEN[@]}" idle --url "${GRPC_URL[gateway]}" --model bench-idle --streams "$n" --pid "$GW_PID" \
      --metrics "http://127.0.0.1:$GW_HTTP_PORT/metrics" --through gateway --upstream embedded \
      --out "$OUT/results.jsonl" | sed "s/^/  /" >&2 || log "idle $n failed"
  done
fi
# Idle streams through a real upstream: every stream is also an open upstream HTTP/2 stream to the
# simulator, held for 600 s before its first token (set through /_sim/config for this phase only).
# Each stream count is measured on freshly started processes (a gateway with only the gRPC models,
# and a new passthrough), each warmed with 5 s of unary load first: streams opened in a process
# that earlier phases grew reuse memory it already holds, and their RSS delta says nothing per
# stream (the reason these rows read NOT COMPARABLE before 2026-12-05).
for n in 1000 10000; do
  if [[ -z $ONLY ]]; then
    log "idle streams through a fresh gateway, grpc provider to the simulator: $n"
    start_idle_gateway "gateway-idle-$n"
    warm_unary "http://127.0.0.1:$IG_GRPC_PORT" "$WORK/req-gateway.bin"
    curl -sf -X PUT "$SIM_HTTP/_sim/config" -d '{"ttftMs":600000}' >/dev/null
    "${LOADGEN[@]}" idle --url "http://127.0.0.1:$IG_GRPC_PORT" --model bench-idle-grpc --streams "$n" --pid "$IG_PID" \
      --metrics "http://127.0.0.1:$IG_HTTP_PORT/metrics" --through gateway --upstream grpc \
      --out "$OUT/results.jsonl" | sed "s/^/  /" >&2 || log "idle $n failed"
    curl -sf -X PUT "$SIM_HTTP/_sim/config" -d '{"ttftMs":0}' >/dev/null
    kill "$IG_PID" 2>/dev/null || true
    wait "$IG_PID" 2>/dev/null || true
  fi
  # The passthrough has no gauge: RSS is read once it stops growing.
  log "idle streams through a fresh passthrough to the simulator: $n"
  kill "$PT_PID" 2>/dev/null || true
  wait "$PT_PID" 2>/dev/null || true
  start_passthrough
  warm_unary "${PT_URL%/}" "$WORK/req-passthrough.bin"
  curl -sf -X PUT "$SIM_HTTP/_sim/config" -d '{"ttftMs":600000}' >/dev/null
  "${LOADGEN[@]}" idle --url "$PT_URL" --model sim-small --streams "$n" --pid "$PT_PID" --metrics none \
    --through passthrough --upstream grpc --out "$OUT/results.jsonl" | sed "s/^/  /" >&2 || log "idle $n failed"
  curl -sf -X PUT "$SIM_HTTP/_sim/config" -d '{"ttftMs":0}' >/dev/null
done

# ---- 9b. tokenizer vs npm tiktoken --------------------------------------------------------------
# Same texts and loop on both sides (bench/Tokenizer.Benchmarks/README.md), rounds interleaved so
# both see the same machine state.
if [[ -n $ONLY ]]; then
  log "BENCH_ONLY=$ONLY: tokenizer skipped"
elif bash "$ROOT/scripts/deps/tokenizer.sh" >"$WORK/tok-fetch.log" 2>&1 \
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
  echo "h2load: $(h2load --version 2>&1 | head -1)$(command -v nginx >/dev/null && echo "; nginx: $(nginx -v 2>&1 | cut -d/ -f2)")"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (includes the benchmark's own load)"
  echo "seconds per point: $DUR (plus 1 s warm-up)"
  echo "rounds of the h2load gRPC unary and REST points: $ROUNDS, interleaved (BENCH_ROUNDS)"
  echo "runtime environment of the gateway and the passthrough: ${RUNTIME_ENV[*]:-.NET defaults} (BENCH_GC_GEN0SIZE)"
  if ((SOAK_MIN > 0)); then echo "long run: $SOAK_MIN minutes of mixed load (BENCH_SOAK_MINUTES)"; fi
  if [[ -n ${REST_URL[portkey]:-} ]]; then echo "Portkey: @portkey-ai/gateway $PORTKEY_VERSION on Node $(node --version)"; fi
  if [[ -n $ONLY ]]; then echo "BENCH_ONLY=$ONLY (smoke: not a full run)"; fi
} >"$OUT/facts.txt"
COMMAND="bench/run.sh $DUR"
if ((SOAK_MIN > 0)); then COMMAND="BENCH_SOAK_MINUTES=$SOAK_MIN $COMMAND"; fi
REPORT=$ROOT/bench/RESULTS.md
if [[ -n $ONLY ]]; then REPORT=$WORK/RESULTS.md; COMMAND="BENCH_ONLY=$ONLY $COMMAND"; fi
"${LOADGEN[@]}" report --in "$OUT/results.jsonl" --facts "$OUT/facts.txt" --command "$COMMAND" \
  --notes "$ROOT/bench/NOTES.md" --sections "$ROOT/bench/results/sections" --out "$REPORT"
log "done: $REPORT"
# The hot-path profile (perf, syscalls, allocations by type) goes to bench/PROFILE.md, and the
# gateway-vs-passthrough CPU comparison at 8x8 (the CPU target's point) to bench/PROFILE-DIFF.md.
if [[ -z $ONLY && ${BENCH_PROFILE:-1} == 1 ]]; then
  cleanup; PIDS=()
  "$ROOT/bench/profile.sh" 20000 1
  "$ROOT/bench/profile-diff.sh" 10 3
fi
