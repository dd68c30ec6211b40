#!/usr/bin/env bash
# Installs Node.js (when missing) and the OpenTelemetry JS SDK pinned in
# tests/node/package-lock.json, for the second-client end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/../tests/node"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
