#!/usr/bin/env bash
# Installs everything the tests need on a Debian/Ubuntu machine, checks the
# code with ruff and mypy, and runs the tests. Safe to run again.
# Extra arguments go to pytest, e.g. scripts/test.sh -k grpc
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/provision-timescaledb.sh
bash scripts/install.sh '.[test]'
bash scripts/install-node-client.sh

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

status=0
.venv/bin/pytest "$@" || status=$?
# pytest exits 5 when a selection holds no test; that is not a failure.
if [ "$status" -eq 5 ]; then
    echo "no tests were selected"
    status=0
fi
exit "$status"
