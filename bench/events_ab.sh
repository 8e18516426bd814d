#!/usr/bin/env bash
# The cost of publishing resource events: medical-events jobs/s, unpaced, with events.enabled
# on and off, A/B in the same run (pairs alternate their order: on/off, off/on, ...), each run
# on a fresh data directory with /healthz measured as its ceiling (bench/me_bench.cpp), and
# the events each run published (medflow_events_published_total).
# usage: bench/events_ab.sh [seconds per run] [pairs]
# env: MEDFLOWD_ARGS (extra medflowd flags), MEDFLOWD_BIN (another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bash bench/calibrate.sh
secs=${1:-12}
pairs=${2:-3}
summary=$(mktemp)
for i in $(seq 1 "$pairs"); do
  order="true false"
  [ $((i % 2)) -eq 0 ] && order="false true"
  for ev in $order; do
    data=$(mktemp -d)
    # shellcheck disable=SC2086  # MEDFLOWD_ARGS holds several words
    start_medflowd "$data" --set events.enabled="$ev" ${MEDFLOWD_ARGS:-}
    echo "== pair $i, events.enabled=$ev"
    build/bench/me_bench "$medflowd_url" "$data/medflow.db" --patients 2000 --connections 32 \
      --seconds "$secs" --rate 0 | tee "$data/bench.out"
    published=$(curl -s "$medflowd_url/metrics" | awk '$1 == "medflow_events_published_total" {print $2}')
    echo "  events published            ${published:-0}"
    stop_medflowd
    jobs=$(awk '/jobs processed, end to end/ {print $6}' "$data/bench.out")
    ratio=$(awk '/ratio to the ceiling/ {print $5}' "$data/bench.out")
    echo "pair $i events.enabled=$ev processed ${jobs} jobs/s ratio ${ratio} events ${published:-0}" >>"$summary"
    rm -rf "$data"
  done
done
echo "== summary"
cat "$summary"
rm -f "$summary"
