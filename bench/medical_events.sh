#!/usr/bin/env bash
# Medical events end to end over HTTP on the embedded default: unpaced throughput, then
# latency at a paced 2,000 jobs/s, each with /healthz measured in the same run as the ceiling.
# usage: bench/medical_events.sh [seconds] [synchronous: FULL|NORMAL]
# env: MEDFLOWD_ARGS (extra medflowd flags, e.g. for A/B runs), MEDFLOWD_BIN (another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bash bench/calibrate.sh
secs=${1:-20}
sync=${2:-FULL}
for rate in 0 2000; do
  data=$(mktemp -d)
  # shellcheck disable=SC2086  # MEDFLOWD_ARGS holds several words
  start_medflowd "$data" --set store.synchronous="$sync" ${MEDFLOWD_ARGS:-}
  echo "== synchronous=$sync rate=${rate:-unpaced}"
  build/bench/me_bench "$medflowd_url" "$data/medflow.db" --patients 2000 --connections 32 \
    --seconds "$secs" --rate "$rate"
  stop_medflowd
  rm -rf "$data"
done
