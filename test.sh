#!/usr/bin/env bash
# The one test command. On a fresh machine it installs what the tests need (apt packages,
# npm ci), lints the protos, builds everything with warnings as errors, and runs every test
# suite; servers the tests need (the gateway, grpc-js peers, redis-server, PostgreSQL,
# Prometheus) are started by the tests themselves on free loopback ports and stopped after.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

echo "== dependencies"
bash scripts/test-deps.sh
for extra in scripts/deps/*.sh; do
    [[ -e "$extra" ]] && bash "$extra"
done

echo "== buf lint"
tests/interop/node_modules/.bin/buf lint

echo "== build"
dotnet build Gateway.Grpc.sln -c Release -nologo -clp:ErrorsOnly

echo "== test"
log="$(mktemp -t gateway-tests.XXXXXX.log)"
trap 'rm -f "$log"' EXIT
set +e
dotnet test Gateway.Grpc.sln -c Release --no-build -nologo --logger "console;verbosity=minimal" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# Fuzzing (afl-fuzz + SharpFuzz) of the parsers of untrusted input, briefly; crashes fail the run
# and are saved under tests/fuzz/regressions/ (scripts/fuzz.sh 600 fuzzes longer by hand).
echo "== fuzz"
fuzz_status=0
bash scripts/fuzz.sh "${GATEWAY_FUZZ_SECONDS:-15}" 2>&1 | tee -a "$log" || fuzz_status=1

# One closing line for the whole run: the sum over every test assembly.
passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
skipped=$(grep -Eo 'Skipped: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
echo
echo "$passed passed, $failed failed, $skipped skipped"
if [[ $fuzz_status -ne 0 ]]; then
    echo "fuzzing found a crash (see above)"
fi
if [[ $status -ne 0 || $failed -ne 0 || $passed -eq 0 || $fuzz_status -ne 0 ]]; then
    exit 1
fi
