#!/usr/bin/env bash
# What the start-up check (store.startup_check) costs on a big database: a store of SIZE_MB
# (default 1024) of embedded-bus records (900-byte values, stored without overflow pages, written straight into the file with
# Python's sqlite3), then medflowd started on it with each check, its log line
# "PRAGMA quick_check of ...: ok (N ms)" read back. "cold" evicts the file from the page
# cache first (posix_fadvise DONTNEED), "warm" runs right after.
# Usage (from the repository root, after scripts/build.sh): bash bench/startup_check.sh [SIZE_MB]
set -euo pipefail
source bench/lib.sh
size_mb=${1:-1024}
dir=$(mktemp -d "${TMPDIR:-/tmp}/medflow-startup-check.XXXXXX")
trap 'stop_medflowd; rm -rf "$dir"' EXIT

start_medflowd "$dir"
curl -s -XPOST "$medflowd_url/topics" -d '{"name":"big","partitions":4}' >/dev/null
stop_medflowd
python3 - "$dir/medflow.db" "$size_mb" <<'PY'
import sqlite3, sys, time
path, size_mb = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(path)
c.execute("PRAGMA synchronous=OFF")
tid = c.execute("SELECT id FROM bus_topics WHERE name='big'").fetchone()[0]
value = '{"v":"' + "x" * 880 + '"}'
rows = size_mb * 1024 * 1024 // 1000
start = time.time()
now_ms = int(start * 1000)
for first in range(0, rows, 20000):
    c.executemany(
        "INSERT INTO bus_records(topic_id, part, off, ts, key, value, headers) VALUES (?,?,?,?,?,?,NULL)",
        ((tid, i % 4, i // 4, now_ms, b"k%d" % i, value) for i in range(first, min(rows, first + 20000))))
    c.commit()
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
print("wrote %d records in %.0f s" % (rows, time.time() - start))
PY
echo "database: $(du -m "$dir/medflow.db" | cut -f1) MB"

evict() {
  python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"
}
for check in off quick full; do
  for cache in cold warm; do
    [ "$cache" = cold ] && evict "$dir/medflow.db"
    : >"$dir/out"  # no "listening on" left from the run before
    t0=$(date +%s.%N)
    start_medflowd "$dir" --set log.level=info --set store.startup_check=$check
    t1=$(date +%s.%N)
    stop_medflowd
    line=$(grep -o "PRAGMA [a-z_]* of .*: ok ([0-9]* ms)" "$dir/err" | tail -n1 || true)
    printf '%-5s %-4s check %s; start to listening %s s\n' "$check" "$cache" \
      "${line:+${line##*: }}" "$(awk "BEGIN{printf \"%.2f\", $t1 - $t0}")"
  done
done
