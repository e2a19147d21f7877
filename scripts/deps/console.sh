#!/usr/bin/env bash
# Test dependencies of the web console (tests/Gateway.Grpc.Console.Tests): Debian's chromium, which
# Microsoft.Playwright drives through ExecutablePath=/usr/bin/chromium (Playwright's own browser
# download is never used), and the npm package the console ships (chart.js, pinned with its sha512
# in src/Console/package-lock.json): npm ci, then a check that the minified file committed under
# src/Console/wwwroot/vendor is the package's own. Idempotent: installs only what is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "console deps: chromium is missing; run as root: apt-get install -y chromium" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi

console="$root/src/Console"
if [ ! -f "$console/node_modules/chart.js/package.json" ]; then
    (cd "$console" && npm ci --no-audit --no-fund --loglevel=error)
fi
if ! cmp -s "$console/node_modules/chart.js/dist/chart.umd.min.js" "$console/wwwroot/vendor/chart.umd.min.js"; then
    echo "console deps: src/Console/wwwroot/vendor/chart.umd.min.js differs from the pinned chart.js package; copy node_modules/chart.js/dist/chart.umd.min.js over it" >&2
    exit 1
fi
