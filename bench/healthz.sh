#!/usr/bin/env bash
# /healthz requests/s with keep-alive: the ceiling every flow's HTTP figure is measured against.
# usage: bench/healthz.sh [seconds] [connections]   (needs wrk: apt-get install wrk)
# env: MEDFLOWD_ARGS (extra medflowd flags, e.g. "--set http.io_threads=2"), MEDFLOWD_BIN
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
secs=${1:-10}
conns=${2:-64}
command -v wrk >/dev/null || { echo "healthz.sh needs wrk (apt-get install wrk)"; exit 2; }
data=$(mktemp -d)
trap 'stop_medflowd; rm -rf "$data"' EXIT
# shellcheck disable=SC2086  # MEDFLOWD_ARGS holds several words
start_medflowd "$data" ${MEDFLOWD_ARGS:-}
echo "GET $medflowd_url/healthz, $conns keep-alive connections, ${secs}s, 2 wrk threads"
wrk -t2 -c"$conns" -d"${secs}s" --latency "$medflowd_url/healthz"
