#!/usr/bin/env bash
# Installs what the non-.NET test harness needs, only when it is missing:
#   - Debian packages: python3-grpcio python3-protobuf (for /usr/bin/python3), protoc with the
#     well-known types (libprotobuf-dev) and the gRPC plugins, nghttp2-client (h2load, nghttp),
#     redis-server (the shared rate-limit tests start their own on free loopback ports; the
#     package's service is not used);
#   - tests/interop/node_modules from package-lock.json (npm ci), when missing or stale.
# Idempotent, quiet on success, loud on failure, never reads stdin (safe with CI=true).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INTEROP="$ROOT/tests/interop"
APT_PACKAGES=(python3-grpcio python3-protobuf protobuf-compiler libprotobuf-dev protobuf-compiler-grpc nghttp2-client redis-server)
LOG="$(mktemp -t test-deps.XXXXXX.log)"
trap 'rm -f "$LOG"' EXIT

die() {
    echo "test-deps: $*" >&2
    if [[ -s "$LOG" ]]; then
        echo "---- output of the failed step ----" >&2
        tail -n 60 "$LOG" >&2
    fi
    exit 1
}

# Runs a command with its output captured in $LOG; shows the output only on failure.
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

# ---- Debian packages ----
missing=()
/usr/bin/python3 -c 'import grpc, google.protobuf' >/dev/null 2>&1 || missing+=(python3-grpcio python3-protobuf)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
# The well-known types (google/protobuf/*.proto) protoc imports: libprotobuf-dev, which a protoc
# installed without recommended packages lacks.
[[ -f /usr/include/google/protobuf/duration.proto ]] || missing+=(libprotobuf-dev)
command -v grpc_python_plugin >/dev/null 2>&1 || missing+=(protobuf-compiler-grpc)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
[[ -x /usr/bin/redis-server ]] || missing+=(redis-server)
if ((${#missing[@]})); then
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${APT_PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    quietly as_root apt-get update -q
    quietly as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
    /usr/bin/python3 -c 'import grpc, google.protobuf' >/dev/null 2>&1 || die "/usr/bin/python3 still cannot import grpc after installing python3-grpcio"
    for tool in protoc grpc_python_plugin h2load redis-server; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool still missing after apt-get install"
    done
fi

# ---- Node packages ----
command -v node >/dev/null 2>&1 || die "node not found (Node 20 is expected on the machine)"
command -v npm >/dev/null 2>&1 || die "npm not found"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "Node $(node --version) is too old; Node 20 or newer is needed"

# The stamp records the hash of the lockfile node_modules was installed from.
lock_hash="$(sha256sum "$INTEROP/package-lock.json" "$INTEROP/package.json" | sha256sum | cut -d' ' -f1)"
stamp="$INTEROP/node_modules/.test-deps-stamp"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_hash" \
    || ! -e "$INTEROP/node_modules/@grpc/grpc-js/package.json" \
    || ! -e "$INTEROP/node_modules/@grpc/proto-loader/package.json" \
    || ! -x "$INTEROP/node_modules/.bin/buf" ]]; then
    (cd "$INTEROP" && quietly npm ci --no-audit --no-fund --loglevel=error)
    "$INTEROP/node_modules/.bin/buf" --version >/dev/null 2>&1 || die "buf does not run after npm ci"
    echo "$lock_hash" >"$stamp"
fi

# gRPC-Web client (Connect's fetch-based transport) for the gateway's gRPC-Web test.
GRPCWEB="$ROOT/tests/grpc-web"
web_hash="$(sha256sum "$GRPCWEB/package-lock.json" "$GRPCWEB/package.json" | sha256sum | cut -d' ' -f1)"
web_stamp="$GRPCWEB/node_modules/.test-deps-stamp"
if [[ ! -f "$web_stamp" || "$(cat "$web_stamp")" != "$web_hash" \
    || ! -e "$GRPCWEB/node_modules/@connectrpc/connect-web/package.json" ]]; then
    (cd "$GRPCWEB" && quietly npm ci --no-audit --no-fund --loglevel=error)
    echo "$web_hash" >"$web_stamp"
fi
