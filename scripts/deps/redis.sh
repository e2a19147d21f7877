#!/usr/bin/env bash
# Installs what the shared rate-limit tests (tests/Gateway.Grpc.Governance.Tests/Limits,
# tests/Gateway.Grpc.Server.Tests/SharedLimitTests.cs) need: a real redis-server (the tests start their
# own on free loopback ports) and redis-tools (redis-cli, for looking at one by hand). Idempotent.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The package's service is not used (and cannot start without systemd); the tests run their own server.
$SUDO apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
redis-server --version
