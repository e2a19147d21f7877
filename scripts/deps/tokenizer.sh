#!/usr/bin/env bash
# Test and build dependencies of the tokenizer (src/Tokenizer, tests/Gateway.Grpc.Tokenizer.Tests):
# Node + npm (the reference tiktoken package and the vocabularies come from npm), then the
# checksum-verified vocabularies. Idempotent. Must run before `dotnet build`, which embeds the data.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "deps/tokenizer: installing nodejs and npm"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

"$root/scripts/fetch-tokenizer-data.sh"
