#!/usr/bin/env bash
# Fuzzes the gateway's parsers of untrusted input with afl-fuzz + SharpFuzz (issue 16):
# the OpenAI request reader, each provider's SSE stream reader, and the config loader.
#   scripts/fuzz.sh [seconds-per-target] [target...]     default: 20 s each, every target
# The test command runs it briefly; run it longer by hand (scripts/fuzz.sh 600). Any crash is
# copied to tests/fuzz/regressions/<target>/ (commit it: FuzzRegressionTests replays it on
# every run) and the script fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PER=${1:-20}
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(openai-request sse-openai sse-anthropic sse-gemini config-yaml)

if ! command -v afl-fuzz >/dev/null; then
  sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq afl++ >/dev/null
fi
TOOLS=${GW_FUZZ_TOOLS:-$HOME/.cache/gw-fuzz/tools}
if [[ ! -x $TOOLS/sharpfuzz ]]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$TOOLS" >/dev/null
fi

WORK=$(mktemp -d /tmp/gw-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# A separate output directory: only these copies are instrumented, never the normal build.
dotnet build tests/fuzz/Gateway.Grpc.Fuzz -c Release -nologo -v q -o "$WORK/bin" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
# And an uninstrumented copy to replay crashes with (instrumented code needs afl's shared memory).
dotnet build tests/fuzz/Gateway.Grpc.Fuzz -c Release -nologo -v q -o "$WORK/plain" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
for assembly in Gateway.Grpc.Server.dll Gateway.Grpc.Adapters.dll; do
  "$TOOLS/sharpfuzz" "$WORK/bin/$assembly" >/dev/null
done

export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
status=0
for target in "${TARGETS[@]}"; do
  out=$WORK/out-$target
  timeout $((PER + 120)) afl-fuzz -V "$PER" -i "tests/fuzz/corpus/$target" -o "$out" -t 10000 -m none \
    -- dotnet "$WORK/bin/Gateway.Grpc.Fuzz.dll" "$target" >"$WORK/afl-$target.log" 2>&1 || true
  stats=$out/default/fuzzer_stats
  if [[ ! -f $stats ]]; then
    echo "fuzz $target: afl-fuzz did not run:"; tail -20 "$WORK/afl-$target.log"; status=1; continue
  fi
  execs=$(awk -F: '/^execs_done/{gsub(/ /,"",$2); print $2}' "$stats")
  paths=$(awk -F: '/^corpus_count/{gsub(/ /,"",$2); print $2}' "$stats")
  crashes=("$out"/default/crashes/id:*)
  if [[ -e ${crashes[0]} ]]; then
    mkdir -p "tests/fuzz/regressions/$target"
    for c in "${crashes[@]}"; do cp "$c" "tests/fuzz/regressions/$target/$(sha1sum "$c" | cut -c1-16)"; done
    echo "fuzz $target: ${#crashes[@]} CRASH(ES) in $execs executions; saved under tests/fuzz/regressions/$target/"
    dotnet "$WORK/plain/Gateway.Grpc.Fuzz.dll" replay "$target" "tests/fuzz/regressions/$target" || true
    status=1
  else
    echo "fuzz $target: no crash in $execs executions ($paths paths) over ${PER}s"
  fi
done
exit $status
