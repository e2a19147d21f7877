#!/usr/bin/env bash
# Obtains the tokenizer vocabularies (never committed) and puts them where the build embeds them.
#
#   1. npm ci in tests/tokenizer-reference (package.json + package-lock.json pin tiktoken@1.0.22;
#      npm checks the tarball against the lock file's sha512 integrity);
#   2. checks encoders/o200k_base.json and encoders/cl100k_base.json against the SHA-256 sums
#      committed in src/Tokenizer/Data/tokenizer-data.sha256;
#   3. copies them, unchanged, to artifacts/tokenizer-data/ (or $1), from where
#      src/Tokenizer/Gateway.Grpc.Tokenizer.csproj embeds them at build time.
#
# Run it before `dotnet build`/`dotnet test`. Idempotent: skips npm ci when the pinned version is
# already installed and leaves up-to-date copies untouched (so the build stays incremental).
# The same directory can serve as GATEWAY_TOKENIZER_DATA for a build made without the data.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reference="$root/tests/tokenizer-reference"
sums="$root/src/Tokenizer/Data/tokenizer-data.sha256"
out="${1:-$root/artifacts/tokenizer-data}"
version="1.0.22"

for tool in node npm sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch-tokenizer-data: '$tool' is required but not on PATH (install Node 20+ and npm; see scripts/deps/tokenizer.sh)." >&2
    exit 1
  fi
done

installed="$(node -p "try { require('$reference/node_modules/tiktoken/package.json').version } catch { '' }" 2>/dev/null || true)"
if [[ "$installed" != "$version" ]]; then
  echo "fetch-tokenizer-data: installing tiktoken@$version (npm ci in tests/tokenizer-reference)"
  (cd "$reference" && npm ci --no-audit --no-fund --loglevel=error)
fi

encoders="$reference/node_modules/tiktoken/encoders"
if ! (cd "$encoders" && sha256sum --check --strict --quiet "$sums"); then
  echo "fetch-tokenizer-data: the tiktoken@$version encoders do not match $sums; refusing to use them." >&2
  exit 1
fi

mkdir -p "$out"
while read -r _ file; do
  if ! cmp -s "$encoders/$file" "$out/$file"; then
    cp "$encoders/$file" "$out/$file.tmp"
    mv "$out/$file.tmp" "$out/$file"
  fi
done < "$sums"
(cd "$out" && sha256sum --check --strict --quiet "$sums")
echo "fetch-tokenizer-data: verified $(wc -l < "$sums") vocabularies in $out"
