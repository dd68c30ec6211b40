#!/usr/bin/env bash
# Creates .venv and installs FlowGuard into it (editable), with the extras
# named by the first argument, e.g. '.[test]'. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-.}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${FLOWGUARD_EDITABLE:-1}" = 1 ]; then
    .venv/bin/python -m pip install -q -e "$target"
else
    .venv/bin/python -m pip install -q "$target"
fi
