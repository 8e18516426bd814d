#!/usr/bin/env bash
# Installs what is missing, builds, and starts medflowd on its embedded default: SQLite only,
# nothing else to start, http://127.0.0.1:8080, data in ./var/. Extra arguments go to medflowd
# (e.g. --port 9000, --set log.level=debug). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh --target medflowd
exec build/medflowd --config config/medflow.json "$@"
