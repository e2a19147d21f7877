#!/usr/bin/env bash
# Guardrails benchmark (issue 13's performance targets): the default detectors on a 2 KB prompt and
# the stream hold-back in deltas (bench/Guardrails.Benchmarks/Program.cs says what is measured).
# Writes bench/results/sections/guardrails.md and splices it into bench/RESULTS.md.
# Usage: bench/guardrails.sh [samples-per-round] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/gw-guardrails-bench.XXXXXX)
PIDS=()
log() { echo "[guardrails-bench $(date +%T)] $*" >&2; }
. "$ROOT/bench/common.sh"
log "building (Release)"
dotnet build "$ROOT/bench/Guardrails.Benchmarks" -c Release -v q -nologo >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
mkdir -p "$ROOT/bench/results/sections"
SECTION=$ROOT/bench/results/sections/guardrails.md
dotnet "$ROOT/bench/Guardrails.Benchmarks/bin/Release/net10.0/Guardrails.Benchmarks.dll" "${1:-20000}" "${2:-5}" >"$SECTION"
cat "$SECTION"
splice_section "$SECTION"
log "done: $SECTION (and bench/RESULTS.md)"
