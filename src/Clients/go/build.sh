#!/usr/bin/env bash
# Builds the example against the generated client, offline, in GOPATH mode with Debian's Go
# packages (golang-google-grpc-dev, golang-google-protobuf-dev, golang-github-golang-protobuf-1-5-dev).
# The generated package's import path is its go_package, gateway/gen/go/gateway/v1; a throwaway
# GOPATH maps that path onto gen/. Output: bin/example (or the path given as $1).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/bin/example}"
command -v go >/dev/null 2>&1 || { echo "build.sh: go not found (apt-get install golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev)" >&2; exit 1; }
[[ -d /usr/share/gocode/src/google.golang.org/grpc ]] || { echo "build.sh: grpc-go not found in /usr/share/gocode (apt-get install golang-google-grpc-dev)" >&2; exit 1; }

GOPATH_DIR="$(mktemp -d -t gateway-gopath.XXXXXX)"
trap 'rm -rf "$GOPATH_DIR"' EXIT
mkdir -p "$GOPATH_DIR/src/gateway/gen"
ln -s "$HERE/gen" "$GOPATH_DIR/src/gateway/gen/go"

export GO111MODULE=off GOFLAGS= GOPATH="$GOPATH_DIR:/usr/share/gocode"
export GOCACHE="${GOCACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/go-build}"
cd "$HERE/example"
go build -o "$OUT" .
