#!/usr/bin/env bash
# Medical events end to end over HTTP on the embedded default: unpaced throughput, then
# latency at a paced 2,000 jobs/s, each with /healthz measured in the same run as the ceiling;
# then the history case (issue 20): unpaced with HISTORY_PATIENTS patients of one episode,
# then the same patients with HISTORY episodes each (jobs/s should not fall with history).
# usage: bench/medical_events.sh [seconds] [synchronous: FULL|NORMAL]
# env: MEDFLOWD_ARGS (extra medflowd flags, e.g. for A/B runs), MEDFLOWD_BIN (another binary),
#      HISTORY (episodes per patient in the history case, default 1000; 0 skips the case),
#      HISTORY_PATIENTS (default 200), CONNECTIONS (HTTP connections of the load, default 32)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bash bench/calibrate.sh
secs=${1:-20}
sync=${2:-FULL}
history=${HISTORY:-1000}
history_patients=${HISTORY_PATIENTS:-200}

run() {  # run RATE PATIENTS EPISODES_PER_PATIENT
  data=$(mktemp -d)
  # shellcheck disable=SC2086  # MEDFLOWD_ARGS holds several words
  start_medflowd "$data" --set store.synchronous="$sync" ${MEDFLOWD_ARGS:-}
  echo "== synchronous=$sync rate=$1 patients=$2 episodes per patient=$3"
  build/bench/me_bench "$medflowd_url" "$data/medflow.db" --patients "$2" --connections "${CONNECTIONS:-32}" \
    --seconds "$secs" --rate "$1" --history "$3" --pid "$medflowd_pid"
  stop_medflowd
  rm -rf "$data"
}

run 0 2000 1
run 2000 2000 1
if [ "$history" -gt 0 ]; then
  run 0 "$history_patients" 1
  run 0 "$history_patients" "$history"
fi
