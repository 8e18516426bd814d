#!/usr/bin/env bash
# Issue 20's restart goal: medflowd restarted to ready with RECORDS records in the embedded bus
# and JOBS medical-events jobs in its store (defaults 1,000,000 and 100,000), on the embedded
# default (SQLite, synchronous=FULL, store.startup_check=quick).
#
# The data are written through medflowd itself (POST /topics/{t}/records, 1,000 records a
# request, 200-byte values; the jobs by tests' me_load: patients x updates), then medflowd is
# restarted ROUNDS times (default 5) after a SIGTERM and ROUNDS times after a kill -9 (the WAL
# left behind), and each restart is timed from exec to the first 200 of /readyz, polled every
# 5 ms. The ceiling, in the same run: the same restarts on an empty data directory.
# Usage (repository root, after scripts/build.sh): bash bench/restart.sh [RECORDS] [JOBS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
records=${1:-1000000}
jobs=${2:-100000}
rounds=${3:-5}
tools=${TOOLS_DIR:-build/tests}
dir=$(mktemp -d "${TMPDIR:-/tmp}/medflow-restart.XXXXXX")
empty=$(mktemp -d "${TMPDIR:-/tmp}/medflow-restart-empty.XXXXXX")
# KEEP_DATA=1 keeps the data directory (printed) for a closer look.
trap 'stop_medflowd; [ -n "${KEEP_DATA:-}" ] && echo "data kept in $dir" || rm -rf "$dir"; rm -rf "$empty"' EXIT

now() { date +%s%N; }

# restart_ms DATA_DIR: starts medflowd on DATA_DIR, sets last_ms to the ms from exec to
# /readyz 200, leaves it running (medflowd_pid, medflowd_url).
restart_ms() {
  local data=$1 t0 t1 url
  : >"$data/out"
  t0=$(now)
  ${MEDFLOWD_BIN:-build/medflowd} --port 0 --data-dir "$data" --set log.level=warn \
    >"$data/out" 2>"$data/err" &
  medflowd_pid=$!
  for ((i = 0; i < 12000; i++)); do
    url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$data/out")
    if [ -n "$url" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ]; then
      t1=$(now)
      medflowd_url=$url
      last_ms=$(((t1 - t0) / 1000000))
      return 0
    fi
    kill -0 "$medflowd_pid" 2>/dev/null || { cat "$data/err" >&2; return 1; }
    sleep 0.005
  done
  echo "medflowd not ready after 60 s" >&2
  return 1
}

kill9() {
  kill -9 "$medflowd_pid" 2>/dev/null || true
  wait "$medflowd_pid" 2>/dev/null || true
  medflowd_pid=
}

echo "== writing $records records and $jobs jobs (through medflowd)"
start_medflowd "$dir"
curl -sf -XPOST "$medflowd_url/topics" -d '{"name":"big","partitions":8}' >/dev/null
python3 - "$medflowd_url" "$records" <<'PY'
import json, sys, time, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
value = {"v": "x" * 180}
t = time.time()
for first in range(0, n, 1000):
    body = json.dumps({"records": [{"key": "k%d" % i, "value": value}
                                   for i in range(first, min(n, first + 1000))]}).encode()
    req = urllib.request.Request(url + "/topics/big/records", body,
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200, r.status
print("records: %d in %.0f s" % (n, time.time() - t))
PY
patients=1000
updates=$((jobs / patients - 1))
"$tools/me_load" setup "$medflowd_url" "$patients" >/dev/null
t=$(now)
"$tools/me_load" run "$medflowd_url" "$patients" "$updates" "$dir/journal" 8 >/dev/null
echo "jobs: $(wc -l <"$dir/journal") accepted in $((($(now) - t) / 1000000000)) s"
# Every job processed before the restarts are timed (none left pending to resume).
pending() {
  python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM me_jobs WHERE status=0").fetchone()[0])' "$dir/medflow.db"
}
for ((i = 0; i < 600; i++)); do [ "$(pending)" = 0 ] && break; sleep 0.5; done
echo "pending jobs before the restarts: $(pending)"
stop_medflowd
echo "database: $(du -m "$dir/medflow.db" | cut -f1) MB" \
  "($(python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("SELECT count(*) FROM bus_records").fetchone()[0], "records,", c.execute("SELECT count(*) FROM me_jobs").fetchone()[0], "jobs")' "$dir/medflow.db"))"

start_medflowd "$empty"
stop_medflowd
for kind in sigterm kill9; do
  full=() base=()
  for ((r = 0; r < rounds; r++)); do
    restart_ms "$empty"
    base+=("$last_ms")
    if [ "$kind" = sigterm ]; then stop_medflowd; else kill9; fi
    restart_ms "$dir"
    full+=("$last_ms")
    # A little work after each start, so that a kill -9 leaves a WAL to recover.
    curl -sf -XPOST "$medflowd_url/topics/big/records" \
      -d '{"records":[{"key":"after","value":{"v":1}}]}' >/dev/null
    if [ "$kind" = sigterm ]; then stop_medflowd; else kill9; fi
  done
  printf '%-8s empty store (ceiling): %s ms   with the data: %s ms\n' "$kind" \
    "$(printf '%s\n' "${base[@]}" | sort -n | tr '\n' ' ')" \
    "$(printf '%s\n' "${full[@]}" | sort -n | tr '\n' ' ')"
done
