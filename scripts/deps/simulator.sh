#!/usr/bin/env bash
# Test dependencies of the provider simulator (tests/Gateway.Grpc.Simulator.Tests):
# Node.js + npm, and the official OpenAI / Anthropic / Google Gen AI SDKs pinned in
# tests/sdk-fidelity/package-lock.json. Idempotent; safe to run on every test run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "simulator deps: node/npm missing and not root; install Node.js 20+ with npm." >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 18 ]; then
  echo "simulator deps: Node.js $major is too old; the SDKs need 18+ (20 recommended)." >&2
  exit 1
fi

fidelity="$root/tests/sdk-fidelity"
if [ ! -d "$fidelity/node_modules/openai" ] || [ ! -d "$fidelity/node_modules/@anthropic-ai/sdk" ] || [ ! -d "$fidelity/node_modules/@google/genai" ]; then
  (cd "$fidelity" && npm ci --no-audit --no-fund)
fi
echo "simulator deps: node $(node --version), SDKs installed in tests/sdk-fidelity"
