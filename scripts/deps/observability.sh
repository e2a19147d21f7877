#!/usr/bin/env bash
# Test dependencies of tests/Gateway.Grpc.Observability.Tests: Prometheus 2.x and promtool
# (Debian package `prometheus`). Idempotent: installs only what is missing.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The package's post-install starts a system service where systemd runs; tests start their own.
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null && command -v prometheus >/dev/null
