#!/usr/bin/env bash
# Installs the harness's dependencies (if missing) and proves the non-.NET drivers against
# the grpc-js reference servers, including the deliberate-defect (mutant) runs.
# See tests/interop/README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/test-deps.sh"
exec node "$ROOT/tests/interop/selftest.js" "$@"
