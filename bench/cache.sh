#!/usr/bin/env bash
# Response-cache benchmark (issue 12's performance targets). Not part of the test suite.
#   1. added p50 at concurrency 1, rounds interleaved in one run: the provider simulator called
#      directly, the bare grpc-dotnet passthrough, the gateway with the cache off for the model,
#      an exact hit and a semantic hit (local all-MiniLM-L6-v2: a paraphrase of a stored prompt,
#      sent with `cache: no-store` so every call is embedded and matched, never an exact hit);
#   2. a 100,000-entry fill of the memory backend through the running gateway (every call a new
#      prompt, so every call is a miss and a store), with cache.maxBytes = 16 MiB: the gateway's own
#      size gauge against the bound, and its RSS before and after.
# Writes bench/results/sections/cache.md and splices it into bench/RESULTS.md.
# Usage: bench/cache.sh [seconds-per-point] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DUR=${1:-5}
ROUNDS=${2:-3}
FILL=${BENCH_CACHE_FILL:-100000}
MAX_BYTES=16777216
WORK=$(mktemp -d /tmp/gw-cache-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
log() { echo "[cache-bench $(date +%T)] $*" >&2; }

. "$ROOT/bench/common.sh"
build_release src/Server src/Simulator bench/Passthrough bench/LoadGen bench/AllocHook
start_simulator
start_passthrough
log "simulator $SIM_GRPC, passthrough $PT_URL"

GW_GRPC_PORT=$(free_port); GW_HTTP_PORT=$(free_port)
mkdir -p "$WORK/config"
grpc_model() {
  cat <<EOF
  - name: $1
    deployments:
      - name: sim-$1
        provider: grpc
        upstreamModel: sim-small
        settings:
          base_url: $SIM_GRPC
EOF
}
cat >"$WORK/config/gateway.yaml" <<EOF
logLevel: Warning
models:
$(grpc_model bench-nocache)
$(grpc_model bench-exact)
$(grpc_model bench-sem)
$(grpc_model bench-fill)
cache:
  enabled: true
  backend: memory
  maxBytes: $MAX_BYTES
  semantic:
    enabled: true
    embedder: minilm
  models:
    bench-nocache: { enabled: false }
    bench-exact: { semantic: false }
    bench-fill: { semantic: false }
    bench-sem: { semantic: true, semanticThreshold: 0.8 }
EOF
log "starting gateway"
env "${RUNTIME_ENV[@]}" dotnet "$SERVER_DLL" --grpcAddress 127.0.0.1:$GW_GRPC_PORT --httpAddress 127.0.0.1:$GW_HTTP_PORT \
  --store:kind sqlite --store:path "$WORK/gateway.db" \
  --config "$WORK/config/gateway.yaml" >"$WORK/gateway.out" 2>"$WORK/gateway.err" &
GW_PID=$!
PIDS+=($GW_PID)
wait_for_gateway
GW=http://127.0.0.1:$GW_GRPC_PORT
METRICS=http://127.0.0.1:$GW_HTTP_PORT/metrics
# metric NAME [LABEL=\"VALUE\"...] — sum of the series of NAME that carry every given label.
metric() {
  local name=$1; shift
  curl -sf "$METRICS" | awk -v m="$name" -v f="$*" '
    $1 ~ "^"m"({|$)" { ok = 1; n = split(f, want, " "); for (i = 1; i <= n; i++) if (!index($1, want[i])) ok = 0; if (ok) s += $2 }
    END { printf "%.0f", s }'
}

# The semantic entry every paraphrase is matched against; the local model loads in the background
# at start-up, so the seed is repeated (no-cache: fetched again and stored) until it is indexed.
echo "What is the capital of France?" >"$WORK/seed.txt"
for _ in $(seq 1 60); do
  "${LOADGEN[@]}" grpc --url "$GW" --model bench-sem -c 1 --duration 0.2 --warmup 0 --prompts "$WORK/seed.txt" \
    --header cache=no-cache --max-requests 1 --out /dev/null >/dev/null
  [[ $(metric gateway_cache_semantic_entries) -ge 1 ]] && break
  sleep 1
done
[[ $(metric gateway_cache_semantic_entries) -ge 1 ]] || { echo "the semantic index stayed empty (embedder not loaded?)" >&2; exit 1; }
cat >"$WORK/paraphrases.txt" <<'EOF'
What's the capital of France?
Which city is the capital of France?
Tell me the capital of France.
what is the capital city of france
What is France's capital?
Name the capital of France.
Can you tell me the capital of France?
What city is France's capital?
EOF

RES=$WORK/cache.jsonl
: >"$RES"
point() { # label url model [loadgen options...]
  local label=$1 url=$2 model=$3; shift 3
  "${LOADGEN[@]}" grpc --url "$url" --model "$model" -c 1 --duration "$DUR" --label "$label" --out "$RES" "$@" >/dev/null
}
hits_before=$(metric gateway_cache_lookups_total 'result="hit_semantic"')
sem_misses_before=$(metric gateway_cache_lookups_total 'model="bench-sem"' 'result="miss"')
for r in $(seq 1 "$ROUNDS"); do
  log "round $r/$ROUNDS"
  point direct "$SIM_GRPC" sim-small
  point passthrough "$PT_URL" sim-small
  point "gateway, cache off" "$GW" bench-nocache
  point "gateway, exact hit" "$GW" bench-exact
  point "gateway, semantic hit" "$GW" bench-sem --prompts "$WORK/paraphrases.txt" --header cache=no-store
done
sem_hits=$(( $(metric gateway_cache_lookups_total 'result="hit_semantic"') - hits_before ))
sem_misses=$(( $(metric gateway_cache_lookups_total 'model="bench-sem"' 'result="miss"') - sem_misses_before ))

log "fill: $FILL new prompts"
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$GW_PID/status"; }
rss_before=$(rss_kb)
stores_before=$(metric gateway_cache_stores_total 'model="bench-fill"')
"${LOADGEN[@]}" grpc --url "$GW" --model bench-fill -c 32 --duration 600 --warmup 0 --unique 1 \
  --max-requests "$FILL" --label fill --out "$WORK/fill.jsonl" >/dev/null
sleep 2
stores=$(( $(metric gateway_cache_stores_total 'model="bench-fill"') - stores_before ))
size=$(metric gateway_cache_memory_size_bytes)
entries=$(metric gateway_cache_memory_entries)
rss_after=$(rss_kb)

mkdir -p "$ROOT/bench/results/sections"
SECTION=$ROOT/bench/results/sections/cache.md
python3 - "$RES" "$WORK/fill.jsonl" >"$SECTION" <<EOF
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
fill = json.loads(open(sys.argv[2]).read().splitlines()[-1])
labels = ["direct", "passthrough", "gateway, cache off", "gateway, exact hit", "gateway, semantic hit"]
med = {l: statistics.median(r["p50_us"] for r in rows if r["label"] == l) for l in labels}
p99 = {l: statistics.median(r["p99_us"] for r in rows if r["label"] == l) for l in labels}
errors = {l: sum(r["errors"] for r in rows if r["label"] == l) for l in labels}
added = {l: med[l] - med["direct"] for l in labels}
pt = added["passthrough"]
print("<!-- section:cache -->")
print("## Response cache (issue 12)")
print()
print("Generated by \`bench/cache.sh $DUR $ROUNDS\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average")
print("at the end $(cut -d' ' -f1-3 /proc/loadavg)). Concurrency 1, unary, $ROUNDS interleaved rounds of $DUR s per")
print("target; each figure is the median of the rounds' p50s. The simulator answers at once (no think")
print("time), so *added* = p50 minus the direct p50: what each target adds over calling the provider.")
print("A hit makes no upstream call, so against a real provider (hundreds of ms) it is far faster than any")
print("miss; this compares only what the gateway's own work costs.")
print()
print("| target | p50 µs | p99 µs | added p50 µs | errors |")
print("| --- | ---: | ---: | ---: | ---: |")
for l in labels:
    print(f"| {l} | {med[l]:.0f} | {p99[l]:.0f} | {added[l]:.0f} | {errors[l]} |")
print()
ratio = added["gateway, exact hit"] / pt if pt > 0 else float("inf")
print(f"- **Exact hit vs passthrough, added p50: {ratio:.2f}x** (target ≤ 1.2x): "
      + ("met." if ratio <= 1.2 else "missed.")
      + f" (A hit is one hop with no upstream, like the direct call, so its added p50 sits near 0 and can"
      + f" come out below it; as whole p50s, hit {med['gateway, exact hit']:.0f} µs vs passthrough"
      + f" {med['passthrough']:.0f} µs = {med['gateway, exact hit'] / med['passthrough']:.2f}x.)")
sem = med["gateway, semantic hit"] / 1000
print(f"- **Semantic hit p50: {sem:.1f} ms** (target ≤ 15 ms): " + ("met." if sem <= 15 else "missed.")
      + f" $sem_hits semantic hits and $sem_misses misses on bench-sem during the rounds (threshold 0.8 for"
      + " the bench, 8 paraphrases of the seeded prompt cycled, each embedded on the CPU).")
print(f"- **Fill:** {fill['requests']} calls with a new prompt each at concurrency 32 ({fill['rps']:.0f}/s,"
      f" {fill['errors']} errors), $stores answers stored; afterwards the memory backend held $entries entries in"
      f" $size bytes against cache.maxBytes = $MAX_BYTES: "
      + ("**bound respected**." if $size <= $MAX_BYTES else "**bound exceeded**.")
      + f" Gateway RSS {${rss_before}/1024:.0f} MiB before the fill, {${rss_after}/1024:.0f} MiB after.")
print("<!-- /section:cache -->")
EOF
cat "$SECTION"
splice_section "$SECTION"
log "done: $SECTION (and bench/RESULTS.md)"
