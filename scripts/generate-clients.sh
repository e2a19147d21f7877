#!/usr/bin/env bash
# Regenerates the generated code of the clients in src/Clients/{python,go,typescript} from
# protos/, as buf.gen.yaml describes (local plugins only, works offline):
#   python      protoc's python + pyi, Debian's grpc_python_plugin   -> src/Clients/python/gen
#   go          protoc-gen-go (APIv2) + protoc-gen-go-grpc (Debian)  -> src/Clients/go/gen
#   typescript  ts-proto with @grpc/grpc-js services                 -> src/Clients/typescript/src/gen
# The C# client compiles its messages from protos/ itself (Grpc.Tools), so it is not here.
#
# Usage: scripts/generate-clients.sh [--out DIR]
#   --out DIR  write under DIR (DIR/src/Clients/...) instead of the repository; the drift test
#              uses it to regenerate into a temporary folder and diff.
# Tools: buf and ts-proto come from scripts/codegen (npm ci, pinned); protoc, grpc_python_plugin,
# protoc-gen-go and protoc-gen-go-grpc from Debian (scripts/deps/rest.sh installs them).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT"
while (($#)); do
    case "$1" in
        --out)
            [[ $# -ge 2 ]] || { echo "generate-clients: --out needs a directory" >&2; exit 2; }
            OUT="$2"
            shift 2
            ;;
        -h | --help)
            sed -n '2,16p' "$0"
            exit 0
            ;;
        *)
            echo "generate-clients: unknown argument '$1' (use --out DIR)" >&2
            exit 2
            ;;
    esac
done

die() {
    echo "generate-clients: $*" >&2
    exit 1
}

CODEGEN="$ROOT/scripts/codegen"
if [[ ! -x "$CODEGEN/node_modules/.bin/buf" || ! -x "$CODEGEN/node_modules/.bin/protoc-gen-ts_proto" ]]; then
    command -v npm >/dev/null 2>&1 || die "npm not found; it installs buf and ts-proto (scripts/codegen)"
    (cd "$CODEGEN" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci in scripts/codegen failed"
fi

for tool in protoc grpc_python_plugin protoc-gen-go protoc-gen-go-grpc; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found; run scripts/deps/rest.sh (apt: protobuf-compiler protobuf-compiler-grpc protoc-gen-go protoc-gen-go-grpc)"
done
# Debian's protoc-gen-go-1-3 (APIv1, from golang-goprotobuf-dev) would silently produce other code.
protoc-gen-go --version 2>&1 | grep -q '^protoc-gen-go v1\.2[0-9]' \
    || die "protoc-gen-go is not the APIv2 generator (got '$(protoc-gen-go --version 2>&1 | head -1)'); apt-get install protoc-gen-go"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
rm -rf "$OUT/src/Clients/python/gen" "$OUT/src/Clients/go/gen" "$OUT/src/Clients/typescript/src/gen"

cd "$ROOT"
export PATH="$CODEGEN/node_modules/.bin:$PATH"
if [[ "$OUT" == "$ROOT" ]]; then
    buf generate
else
    buf generate --output "$OUT"
fi
