#!/usr/bin/env bash
# Medical events end to end over HTTP on the embedded default: unpaced throughput, then
# latency at a paced 2,000 jobs/s, each with /healthz measured in the same run as the ceiling.
# usage: bench/medical_events.sh [seconds] [synchronous: FULL|NORMAL]
# env: MEDFLOWD_ARGS (extra medflowd flags, e.g. for A/B runs)
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/calibrate.sh
secs=${1:-20}
sync=${2:-FULL}
for rate in 0 2000; do
  data=$(mktemp -d)
  build/medflowd --port 0 --data-dir "$data" --set log.level=warn --set store.synchronous="$sync" ${MEDFLOWD_ARGS:-} \
    >"$data/out" 2>"$data/err" &
  pid=$!
  until grep -q "listening on" "$data/out" 2>/dev/null; do sleep 0.05; done
  url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$data/out")
  echo "== synchronous=$sync rate=${rate:-unpaced}"
  build/bench/me_bench "$url" "$data/medflow.db" --patients 2000 --connections 32 \
    --seconds "$secs" --rate "$rate"
  kill "$pid"; wait "$pid" || true
  rm -rf "$data"
done
