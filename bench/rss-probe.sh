#!/usr/bin/env bash
# Short idle-RSS probe (not the full benchmark): simulator + gateway with only the bench-grpc
# model, SECS (default 30) seconds of h2load 8x8 unary, then 25 s idle for the idle trim; prints
# VmRSS just started, right after the load and after the trim, then where the idle RSS sits (from
# /proc/PID/smaps: mapped files, the runtime's W^X double mapping of executable memory -- JIT'd
# code, stubs, precode --, anonymous memory) and the largest mapped files. Needs a Release build
# (bench/run.sh builds).
set -euo pipefail
cd "$(dirname "$0")/.."; ROOT=$PWD
WORK=$(mktemp -d /tmp/gw-rss.XXXXXX); PIDS=()
log() { echo "[rss $(date +%T)] $*" >&2; }
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
. bench/common.sh
start_simulator
GW_GRPC_PORT=$(free_port); GW_HTTP_PORT=$(free_port)
mkdir -p $WORK/config
cat > $WORK/config/gateway.yaml <<EOC
logLevel: Warning
maxStreamsPerConnection: 5000
models:
$(bench_grpc_model_yaml)
EOC
env "${RUNTIME_ENV[@]}" dotnet "$SERVER_DLL" --grpcAddress 127.0.0.1:$GW_GRPC_PORT --httpAddress 127.0.0.1:$GW_HTTP_PORT --config $WORK/config/gateway.yaml > $WORK/gw.out 2>&1 &
GW_PID=$!; PIDS+=($GW_PID)
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$GW_HTTP_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 2; echo "just started: $(grep VmRSS /proc/$GW_PID/status)"
"${LOADGEN[@]}" frame --model bench-grpc --out $WORK/req.bin >/dev/null
h2load http://127.0.0.1:$GW_GRPC_PORT/gateway.v1.Completion/Complete -d $WORK/req.bin -c 8 -m 8 -t 1 -D ${SECS:-30} -H 'content-type: application/grpc' -H 'te: trailers' | grep "req/s" | head -1
echo "after load: $(grep VmRSS /proc/$GW_PID/status)"
sleep 25; echo "idle 25 s later (trim done): $(grep VmRSS /proc/$GW_PID/status)"
echo "where the idle RSS sits (smaps Rss):"
python3 - "$GW_PID" <<'PY'
import collections, re, sys
kind, files, current = collections.Counter(), collections.Counter(), None
for line in open(f"/proc/{sys.argv[1]}/smaps"):
    m = re.match(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$", line)
    if m:
        current = m.group(1).strip()
        continue
    if line.startswith("Rss:"):
        kb = int(line.split()[1])
        k = ("anonymous" if current in ("", "[heap]", "[stack]") else
             "W^X double mapping (executable memory)" if current.startswith("/memfd:doublemapper") else
             "mapped files" if current.startswith("/") else "other")
        kind[k] += kb
        if k == "mapped files":
            files[current.rsplit("/", 1)[-1]] += kb
for k, kb in kind.most_common():
    print(f"  {k:40s} {kb / 1024:6.1f} MB")
print("  largest mapped files: " + ", ".join(f"{n} {kb / 1024:.1f}" for n, kb in files.most_common(8)))
PY
