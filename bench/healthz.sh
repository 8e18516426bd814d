#!/usr/bin/env bash
# /healthz requests/s with keep-alive: the ceiling every flow's HTTP figure is measured against.
# usage: bench/healthz.sh [seconds] [connections]   (needs wrk: apt-get install wrk)
# env: MEDFLOWD_ARGS (extra medflowd flags, e.g. "--set http.io_threads=2")
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
command -v wrk >/dev/null || { echo "healthz.sh needs wrk (apt-get install wrk)"; exit 2; }
data=$(mktemp -d)
build/medflowd --port 0 --data-dir "$data" --set log.level=warn ${MEDFLOWD_ARGS:-} >"$data/out" 2>"$data/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
until grep -q "listening on" "$data/out"; do sleep 0.05; done
url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$data/out")
echo "GET $url/healthz, $conns keep-alive connections, ${secs}s, 2 wrk threads"
wrk -t2 -c"$conns" -d"${secs}s" --latency "$url/healthz"
