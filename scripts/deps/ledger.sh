#!/usr/bin/env bash
# Test dependencies of tests/Gateway.Grpc.Governance.Tests: a real PostgreSQL 15 server
# (the tests start their own instance on a free loopback port; the packaged cluster is not used).
# Idempotent: installs only what is missing.
set -euo pipefail

if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || [ ! -x /usr/lib/postgresql/15/bin/pg_ctl ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "ledger deps: PostgreSQL 15 is missing; run as root: apt-get install -y postgresql" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q postgresql
fi
