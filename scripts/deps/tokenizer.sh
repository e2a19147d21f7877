#!/usr/bin/env bash
# Test dependencies of the tokenizer (tests/Gateway.Grpc.Tokenizer.Tests, bench/Tokenizer.Benchmarks):
# Node + npm and the reference tiktoken package (tests/tokenizer-reference, pinned by its
# package-lock.json; npm checks the tarball's sha512) that the parity tests compare ids against.
# The tokenizer itself needs nothing here: its vocabularies come with the Microsoft.ML.Tokenizers
# Data NuGet packages. Idempotent: skips npm ci when the pinned version is already installed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
reference="$root/tests/tokenizer-reference"
version="1.0.22"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "deps/tokenizer: installing nodejs and npm"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

installed="$(node -p "try { require('$reference/node_modules/tiktoken/package.json').version } catch { '' }" 2>/dev/null || true)"
if [[ "$installed" != "$version" ]]; then
  echo "deps/tokenizer: installing tiktoken@$version (npm ci in tests/tokenizer-reference)"
  (cd "$reference" && npm ci --no-audit --no-fund --loglevel=error)
fi
