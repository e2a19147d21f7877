#!/usr/bin/env bash
# Installs what the REST/clients tests (tests/Gateway.Grpc.Rest.Tests) and
# scripts/generate-clients.sh need, only when it is missing. Idempotent; quiet on success, loud
# on failure; never reads stdin (safe with CI=true).
#   apt: python3-grpcio python3-protobuf (for /usr/bin/python3), protobuf-compiler,
#        protobuf-compiler-grpc (grpc_python_plugin), golang-go, golang-google-grpc-dev,
#        golang-google-protobuf-dev, golang-github-golang-protobuf-1-5-dev, protoc-gen-go (APIv2),
#        protoc-gen-go-grpc, curl
#   npm ci: scripts/codegen (buf, ts-proto), src/Clients/typescript (grpc-js, typescript),
#           tests/rest-sdk (openai)
# Note: protoc-gen-go (APIv2) conflicts with golang-goprotobuf-dev / protoc-gen-go-1-3 (APIv1,
# no proto3 optional); apt removes those when it installs protoc-gen-go.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
APT_PACKAGES=(python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc
    golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev
    protoc-gen-go protoc-gen-go-grpc curl)
NPM_FOLDERS=(scripts/codegen src/Clients/typescript tests/rest-sdk)
LOG="$(mktemp -t rest-deps.XXXXXX.log)"
trap 'rm -f "$LOG"' EXIT

die() {
    echo "deps/rest: $*" >&2
    if [[ -s "$LOG" ]]; then
        echo "---- output of the failed step ----" >&2
        tail -n 60 "$LOG" >&2
    fi
    exit 1
}

quietly() {
    : >"$LOG"
    "$@" </dev/null >>"$LOG" 2>&1 || die "failed: $*"
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "need root (or passwordless sudo) to run: $*"
    fi
}

apt_ok() {
    /usr/bin/python3 -c 'import grpc, google.protobuf' >/dev/null 2>&1 || return 1
    for tool in protoc grpc_python_plugin go protoc-gen-go protoc-gen-go-grpc curl; do
        command -v "$tool" >/dev/null 2>&1 || return 1
    done
    protoc-gen-go --version 2>&1 | grep -q '^protoc-gen-go v1\.2[0-9]' || return 1
    [[ -d /usr/share/gocode/src/google.golang.org/grpc && -d /usr/share/gocode/src/google.golang.org/protobuf ]] || return 1
    # golang/protobuf 1.5 (built on APIv2), not 1.3: grpc-go's codec must accept APIv2 messages.
    [[ -f /usr/share/gocode/src/github.com/golang/protobuf/proto/registry.go ]] || return 1
}

if ! apt_ok; then
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${APT_PACKAGES[*]}"
    quietly as_root apt-get update -q
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
    apt_ok || die "tools still missing after apt-get install ${APT_PACKAGES[*]}"
fi

command -v node >/dev/null 2>&1 || die "node not found (Node 20 is expected on the machine)"
command -v npm >/dev/null 2>&1 || die "npm not found"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "Node $(node --version) is too old; Node 20 or newer is needed"

# npm ci per folder, again only when the lockfile changed since the last install.
for folder in "${NPM_FOLDERS[@]}"; do
    dir="$ROOT/$folder"
    hash="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
    stamp="$dir/node_modules/.rest-deps-stamp"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$hash" ]]; then
        (cd "$dir" && quietly npm ci --no-audit --no-fund --loglevel=error)
        echo "$hash" >"$stamp"
    fi
done
"$ROOT/scripts/codegen/node_modules/.bin/buf" --version >/dev/null 2>&1 || die "buf does not run after npm ci in scripts/codegen"
