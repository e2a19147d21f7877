#!/usr/bin/env bash
# Test dependencies of tests/Gateway.Grpc.Cluster.Tests: nginx as the gRPC/HTTP load balancer in
# front of three gateway processes (the test runs it as the test user, with its own prefix,
# configuration, pid file, logs and temp paths, on free loopback ports; the packaged service is
# not used). redis-server and PostgreSQL come from scripts/deps/redis.sh and scripts/deps/ledger.sh.
# Idempotent: installs only what is missing.
set -euo pipefail

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "cluster deps: nginx is missing; run as root: apt-get install -y nginx-light" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # nginx-light has the http2 and grpc modules the balancer needs; fall back to nginx.
    apt-get install -y -q --no-install-recommends nginx-light || apt-get install -y -q --no-install-recommends nginx
    # The package starts its own service on port 80; the tests do not use it.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
        systemctl stop nginx || true
    fi
fi
