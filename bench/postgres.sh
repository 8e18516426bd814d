#!/usr/bin/env bash
# Medical events on one medflowd with the Kafka bus (librdkafka's mock cluster): the store on
# SQLite, then on PostgreSQL (a server of its own, tests/support/postgres.sh, fsync on), each
# unpaced for SECONDS with /healthz measured in the same run as the ceiling. Resource events
# and subscriptions are off (their topics would have to exist on the mock cluster).
# usage: bench/postgres.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
source tests/support/postgres.sh
bash bench/calibrate.sh
secs=${1:-12}
work=$(mktemp -d)
kafka_pid=
cleanup() {
  stop_medflowd
  [ -z "$kafka_pid" ] || kill "$kafka_pid" 2>/dev/null || true
  stop_postgres
  rm -rf "$work"
}
trap cleanup EXIT
build/tests/kafka_mock medical_events:8 medical_events.dead_letter:1 person_events:1 \
  person_events.dead_letter:1 event_manager_topic:1 medical_events.notifications:1 \
  >"$work/kafka.out" 2>"$work/kafka.err" &
kafka_pid=$!
until [ -s "$work/kafka.out" ]; do sleep 0.1; done
brokers=$(head -n1 "$work/kafka.out")
start_postgres "$(mktemp -d "${TMPDIR:-/tmp}/medflow-bench-pg.XXXXXX")"
# utime + stime ticks (1/100 s) of medflowd and of every process of the PostgreSQL server.
cpu_ticks() {
  local mf pg=0 p
  mf=$(awk '{print $14 + $15}' "/proc/$medflowd_pid/stat")
  for p in $(pgrep -f -- "-D $MEDFLOW_PG_DIR/data" || true) $(pgrep -f "^postgres: " || true); do
    [ -r "/proc/$p/stat" ] || continue
    grep -q "$MEDFLOW_PG_PORT\|$MEDFLOW_PG_DIR" "/proc/$p/cmdline" 2>/dev/null ||
      [ "$(ps -o ppid= -p "$p" | tr -d ' ')" = "$(head -n1 "$MEDFLOW_PG_DIR/data/postmaster.pid")" ] || continue
    pg=$((pg + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$mf $pg"
}
common=(--kafka-brokers "$brokers" --set events.enabled=false --set subscriptions.enabled=false)
for store in sqlite postgres; do
  data="$work/$store"
  if [ $store = postgres ]; then
    "$MEDFLOW_PG_BIN/psql" -q "$MEDFLOW_TEST_PG_URL" -c "CREATE DATABASE medflow"
    db="${MEDFLOW_TEST_PG_URL%/*}/medflow"
    echo "$db" >"$work/pg.url"
    start_medflowd "$data" "${common[@]}" --set store.backend=postgres \
      --set store.postgres.url_file="$work/pg.url" --set hri.enabled=false \
      --set exams.enabled=false --set aggregation.enabled=false
  else
    db="$data/medflow.db"
    start_medflowd "$data" "${common[@]}" --set hri.enabled=false --set exams.enabled=false \
      --set aggregation.enabled=false
  fi
  echo "== store $store, bus kafka (mock), unpaced"
  cpu_before=$(cpu_ticks)
  build/bench/me_bench "$medflowd_url" "$db" --patients 2000 --connections 32 --seconds "$secs" \
    --rate 0
  read -r mf pg <<<"$(cpu_ticks)"
  read -r mf0 pg0 <<<"$cpu_before"
  echo "  CPU during the run (s): medflowd $(((mf - mf0) / 100)), PostgreSQL server $(((pg - pg0) / 100))"
  stop_medflowd
done
