#!/usr/bin/env bash
# Pull subscriptions fed by medical-events jobs, end to end: events/s from job to delivered, and
# the cost of publishing and delivering on the jobs/s, A/B in the same run.
#
# Three runs of the medical events bench (me_bench, 2,000 patients, 32 connections, unpaced),
# each on a fresh data directory: (A) events.enabled=false; (B) events on, no subscriber;
# (C) events on with N subscriptions (default 1,000) over 20 event topics (the 3 the jobs
# publish to, episode create: ehealth-episodeofcare, .team, .managingOrganization; rename:
# ehealth-episodeofcare; and 17 more of the shipped mapping), 50 per topic, each with one of
# four selectors, every one long-polling (wait_ms=2000, max=1000, one connection each) and
# acking what it got while the jobs run. Delivered events/s = events delivered over all
# subscriptions / (last delivery - start of the jobs); the expected count is computed from the
# topics' records (read back through the topic API) and the same four selectors.
# usage: bench/subscriptions.sh [subscriptions] [seconds of jobs]
# env: MEDFLOWD_BIN, MEDFLOWD_ARGS. Needs python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
subs=${1:-1000}
secs=${2:-10}
bash bench/calibrate.sh
summary=$(mktemp)
data=""
trap 'stop_medflowd; [ -n "$data" ] && rm -rf "$data"; rm -f "$summary"' EXIT

jobs_run() {  # jobs_run LABEL: me_bench against the running medflowd; one summary line
  build/bench/me_bench "$medflowd_url" "$data/medflow.db" --patients 2000 --connections 32 \
    --seconds "$secs" --rate 0 | tee "$data/bench.out"
  local jobs ratio published
  jobs=$(awk '/jobs processed, end to end/ {print $6}' "$data/bench.out")
  ratio=$(awk '/ratio to the ceiling/ {print $5}' "$data/bench.out")
  published=$(curl -s "$medflowd_url/metrics" | awk '$1 == "medflow_events_published_total" {print $2}')
  echo "$1: ${jobs} jobs/s processed (ratio to /healthz ${ratio}), events published ${published:-0}" >>"$summary"
}

for run in off on subscribed; do
  data=$(mktemp -d)
  ev=true
  [ "$run" = off ] && ev=false
  # shellcheck disable=SC2086  # MEDFLOWD_ARGS holds several words
  start_medflowd "$data" --set events.enabled="$ev" --set subscriptions.max_count=$((subs + 10)) \
    ${MEDFLOWD_ARGS:-}
  echo "== events.enabled=$ev$([ "$run" = subscribed ] && echo ", $subs subscriptions long-polling")"
  if [ "$run" != subscribed ]; then
    jobs_run "events $run"
  else
    python3 bench/subscriptions_poll.py "$medflowd_url" "$subs" "$data" &
    poller=$!
    until [ -e "$data/ready" ]; do
      kill -0 "$poller" 2>/dev/null || { echo "the poller failed" >&2; exit 1; }
      sleep 0.1
    done
    date +%s.%N >"$data/go"
    jobs_run "events on, $subs subscriptions delivering"
    touch "$data/stop"
    wait "$poller"
    cat "$data/poll.out" >>"$summary"
  fi
  stop_medflowd
  rm -rf "$data"
  data=""
done
echo "== summary"
cat "$summary"
