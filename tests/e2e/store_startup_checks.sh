#!/usr/bin/env bash
# Storage honesty at start-up (issue 15): a database with garbage in its middle, or truncated
# to zero, or deleted, makes medflowd refuse to start (exit 1) with a message that names the
# file and what to do; the documented recoveries work (restore the backup; delete the marker
# to start empty on purpose).
source "$(dirname "$0")/lib.sh"
db="$E2E_TMP/data/medflow.db"
marker="$db.identity"

# start_fails PATTERN [args...]: medflowd must exit 1 at start with PATTERN on stderr.
start_fails() {
  local pattern=$1 rc=0
  shift
  : >"$E2E_TMP/refused.err"
  timeout 30 "$MEDFLOWD" --port 0 --data-dir "$E2E_TMP/data" "$@" \
    >"$E2E_TMP/refused.out" 2>"$E2E_TMP/refused.err" || rc=$?
  [ $rc -eq 1 ] || fail "medflowd should refuse to start (exit 1), exit $rc: $(tail -n 3 "$E2E_TMP/refused.err")"
  grep -q -- "$pattern" "$E2E_TMP/refused.err" ||
    fail "refusal should say '$pattern': $(cat "$E2E_TMP/refused.err")"
  ! grep -q "listening on" "$E2E_TMP/refused.out" || fail "medflowd listened on a bad database"
}

records_in_t() {
  http GET "/topics/t/partitions/0/records?offset=0&max=1"
  expect_status 200
}

step "a store with data (about 4 MB), stopped cleanly"
start_medflowd
http POST /topics '{"name":"t","partitions":1}'; expect_status 201
value=$(printf '"%0900d"' 0)
for i in $(seq 1 40); do
  body=$(jq -cn --argjson v "$value" '{records:[range(100) | {key:("k"+tostring), value:$v}]}')
  http POST /topics/t/records "$body"; expect_status 200
done
stop_medflowd
[ -f "$marker" ] || fail "no identity marker beside the database"
cp "$db" "$E2E_TMP/backup.db"

step "garbage in the middle of the file: refused, naming the file"
size=$(stat -c %s "$db")
[ "$size" -gt 2000000 ] || fail "database only $size bytes"
head -c 65536 /dev/urandom | dd of="$db" bs=4096 seek=$((size / 4096 / 2)) conv=notrunc status=none
start_fails "database $db is damaged ("
grep -q "quick_check" "$E2E_TMP/refused.err" || fail "the refusal should name the check: $(cat "$E2E_TMP/refused.err")"
grep -q "restore $db from a backup" "$E2E_TMP/refused.err" || fail "no advice: $(cat "$E2E_TMP/refused.err")"

step "restored from the backup: starts, data there"
cp "$E2E_TMP/backup.db" "$db"
start_medflowd
records_in_t; expect_json '.records | length' 1
stop_medflowd

step "truncated to zero: refused (the marker says there was data)"
: >"$db"
rm -f "$db-wal" "$db-shm"
start_fails "database $db is empty, but $marker says it held database "
[ "$(stat -c %s "$db")" = 0 ] || fail "the refused start wrote to the database"

step "deleted: refused the same way"
rm -f "$db"
start_fails "database $db is empty, but $marker says it held database "

step "restored from the backup: starts with its data"
cp "$E2E_TMP/backup.db" "$db"
start_medflowd
records_in_t; expect_json '.records[0].key' k0
stop_medflowd

step "another medflowd's database put in its place: refused"
other="$E2E_TMP/other"
start_medflowd --data-dir "$other"
stop_medflowd
cp "$other/medflow.db" "$db"
start_fails "database $db is database .*, but $marker says it held database "

step "starting empty on purpose: delete the marker"
: >"$db"
rm -f "$marker"
start_medflowd
http GET /topics; expect_status 200; expect_json '[.topics[] | select(.name=="t")] | length' 0
stop_medflowd
[ -f "$marker" ] || fail "no new identity marker"
echo "PASS $TEST_NAME"
