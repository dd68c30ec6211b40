#!/usr/bin/env bash
# Installs FlowGuard into .venv and runs `flowguard serve`. With no
# FLOWGUARD_DATABASE_URL it starts its embedded PostgreSQL in
# FLOWGUARD_DATA_DIR (default ~/.local/share/flowguard). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWGUARD_EDITABLE=0 bash scripts/install.sh .
exec .venv/bin/flowguard serve "$@"
