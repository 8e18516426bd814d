#!/usr/bin/env bash
# Medical-events jobs/s on one node SQLite (embedded bus) vs one node PostgreSQL vs N nodes on
# one PostgreSQL (Kafka mock cluster, consumer groups), with each process's CPU.
# usage: bench/groups.sh [patients] [updates per patient] [nodes for the last run]
# A run: me_load sets up the patients, then one me_load per node sends its share of the
# patients' creates and updates (PATCH, back to back; each job queues behind the patient's
# previous one), 12 client threads in all whatever the number of nodes; the clock stops when
# the store has no pending job left. jobs/s = jobs / time; every run has the same jobs.
# CPU: user+system seconds of each process over the run (/proc/<pid>/stat), as a share of the
# run's wall time (1.00 = one core).
set -euo pipefail
cd "$(dirname "$0")/.."
patients_total=${1:-600}
updates=${2:-20}
nodes_max=${3:-3}
tools=build/tests
# The e2e helpers for ME_TOPICS (the topics the mock cluster must have); their exit trap is
# replaced by ours.
MEDFLOWD=build/medflowd source tests/e2e/lib.sh
source tests/support/postgres.sh
tmp=$(mktemp -d)
chmod 755 "$tmp"  # the PostgreSQL server runs as another user
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [ -n "${MEDFLOW_PG_DIR:-}" ] && stop_postgres >/dev/null 2>&1 || true
  rm -rf "$tmp" "$E2E_TMP"
}
trap bench_cleanup EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The PostgreSQL server's processes (the postmaster and its children) together.
pg_ticks() {
  [ -n "${MEDFLOW_PG_DIR:-}" ] || { echo 0; return; }
  local pm sum=0 p
  pm=$(head -n1 "$MEDFLOW_PG_DIR/data/postmaster.pid")
  for p in $pm $(pgrep -P "$pm"); do sum=$((sum + $(ticks "$p"))); done
  echo "$sum"
}
hz=$(getconf CLK_TCK)

start_node() {  # start_node DIR ARGS...: sets node_url and node_pid
  local dir=$1
  shift
  mkdir -p "$dir"
  build/medflowd --port 0 --data-dir "$dir" --set log.level=warn "$@" >"$dir/out" 2>"$dir/err" &
  node_pid=$!
  pids+=("$node_pid")
  for _ in $(seq 600); do grep -q "listening on" "$dir/out" && break; sleep 0.05; done
  node_url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$dir/out")
}

# run LABEL COUNT_PENDING_CMD URL...: the load over the URLs; prints jobs/s and CPU shares.
run() {
  local label=$1 pending_cmd=$2
  shift 2
  local urls=("$@") n=$# i
  local patients=$((patients_total / n)) threads=$((12 / n))
  "$tools/me_load" setup "${urls[0]}" "$patients_total" >/dev/null
  local -A before
  for p in "${node_pids[@]}" "${extra_pids[@]}"; do before[$p]=$(ticks "$p"); done
  local pg_before; pg_before=$(pg_ticks)
  local t0; t0=$(date +%s.%N)
  local loads=()
  for i in $(seq 0 $((n - 1))); do
    ME_LOAD_FIRST=$((i * patients)) "$tools/me_load" run "${urls[$i]}" "$patients" "$updates" \
      "$tmp/journal-$label-$i" "$threads" &
    loads+=($!)
  done
  for l in "${loads[@]}"; do wait "$l"; done
  until [ "$(eval "$pending_cmd")" = 0 ]; do sleep 0.05; done
  local t1; t1=$(date +%s.%N)
  local wall; wall=$(echo "$t1 - $t0" | bc -l)
  local jobs=$((n * patients * (updates + 1)))
  printf '%s: %d jobs in %.2f s = %.0f jobs/s; CPU (cores):' "$label" "$jobs" "$wall" \
    "$(echo "$jobs / $wall" | bc -l)"
  local k=0
  for p in "${node_pids[@]}"; do
    k=$((k + 1))
    printf ' medflowd%d %.2f' "$k" "$(echo "($(ticks "$p") - ${before[$p]}) / $hz / $wall" | bc -l)"
  done
  for p in "${extra_pids[@]}"; do
    printf ' kafka_mock %.2f' "$(echo "($(ticks "$p") - ${before[$p]}) / $hz / $wall" | bc -l)"
  done
  [ -n "${MEDFLOW_PG_DIR:-}" ] &&
    printf ' postgres %.2f' "$(echo "($(pg_ticks) - $pg_before) / $hz / $wall" | bc -l)"
  echo
}

# 1. one node, SQLite and the embedded bus (the default).
node_pids=() extra_pids=()
start_node "$tmp/sqlite"
url=$node_url
node_pids=("$node_pid")
run sqlite-1 "sqlite3 $tmp/sqlite/medflow.db 'SELECT count(*) FROM me_jobs WHERE status = 0'" "$url"
kill "$node_pid"; wait "$node_pid" 2>/dev/null || true

# PostgreSQL and the Kafka mock for the rest.
start_postgres "$tmp/pg" >/dev/null
"$MEDFLOW_PG_BIN/psql" -q "$MEDFLOW_TEST_PG_URL" -c "CREATE DATABASE medflow"
"$MEDFLOW_PG_BIN/psql" -q "$MEDFLOW_TEST_PG_URL" -c "CREATE DATABASE medflow_n"
for nodes in 1 "$nodes_max"; do
  db=medflow; [ "$nodes" -gt 1 ] && db=medflow_n
  echo "${MEDFLOW_TEST_PG_URL%/*}/$db" >"$tmp/pg-$nodes.url"
  "$tools/kafka_mock" "${ME_TOPICS[@]}" >"$tmp/mock-$nodes.out" 2>/dev/null &
  mock=$!
  pids+=("$mock")
  until grep -q . "$tmp/mock-$nodes.out"; do sleep 0.05; done
  brokers=$(head -n1 "$tmp/mock-$nodes.out")
  node_pids=() urls=()
  for k in $(seq "$nodes"); do
    start_node "$tmp/pg-$nodes-$k" --kafka-brokers "$brokers" \
      --set store.backend=postgres --set "store.postgres.url_file=$tmp/pg-$nodes.url" \
      --set hri.enabled=false --set exams.enabled=false --set aggregation.enabled=false
    urls+=("$node_url")
    node_pids+=("$node_pid")
  done
  sleep 5  # the group settles (one rebalance per joining node)
  extra_pids=("$mock")
  run "postgres-$nodes" "$MEDFLOW_PG_BIN/psql -qAt $(cat "$tmp/pg-$nodes.url") -c 'SELECT count(*) FROM me_jobs WHERE status = 0'" "${urls[@]}"
  for p in "${node_pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
  kill "$mock"; wait "$mock" 2>/dev/null || true
done
