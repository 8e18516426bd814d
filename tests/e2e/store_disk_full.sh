#!/usr/bin/env bash
# A full disk (issue 15): the data directory on a small tmpfs, filled up. While the store
# cannot write, /readyz answers 503 naming the reason and writes answer 507 with a JSON
# error; every write acknowledged before is intact; once space returns medflowd is ready
# again by itself and takes writes. Needs root (mount); exits 77 (skipped) without it.
source "$(dirname "$0")/lib.sh"
mnt="$E2E_TMP/small"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=32m medflow-e2e-full "$mnt" 2>/dev/null; then
  echo "SKIP $TEST_NAME: cannot mount a tmpfs (not root?)"
  exit 77
fi
CLEANUP_HOOKS+=("umount -l '$mnt'")
data="$mnt/data"

ready() { http GET /readyz; [ "$STATUS" = 200 ]; }
# expect_records N: the partition holds offsets 0 .. N-1 and nothing after (read from the end,
# so the answer stays small).
expect_records() {
  http GET "/topics/t/partitions/0/records?offset=$(($1 - 1))&max=2"
  expect_status 200
  expect_json '[.records[].offset]' "[$(($1 - 1))]"
}

start_medflowd --data-dir "$data" --set store.disk_full_probe_ms=200 \
  --set store.disk_full_probe_bytes=2097152
http POST /topics '{"name":"t","partitions":1}'; expect_status 201
value=$(printf '"%051200d"' 0)  # 50 KB
body=$(jq -cn --argjson v "$value" '{records:[{key:"k", value:$v}]}')
acked=0
for i in $(seq 1 20); do
  http POST /topics/t/records "$body"; expect_status 200
  acked=$((acked + 1))
done
http GET /readyz; expect_status 200

step "fill the disk"
dd if=/dev/zero of="$mnt/fill" bs=64k status=none 2>/dev/null || true
echo "free: $(df --output=avail -B1 "$mnt" | tail -n1) bytes"

step "writes answer 507 with the reason; nothing acknowledged is lost"
got=""
for i in $(seq 1 200); do
  http POST /topics/t/records "$body"
  [ "$STATUS" = 200 ] || { got=$STATUS; break; }
  acked=$((acked + 1))
done
[ "$got" = 507 ] || fail "a write on a full disk answered $got: $BODY"
expect_json .error.code insufficient_storage
expect_json '.error.message | test("disk of the database is full")' true
echo "acknowledged before the disk was full: $acked writes"
http GET /readyz; expect_status 503
expect_json '.checks[] | select(.name=="store") | .detail | test("^cannot write: the disk of the database is full")' true
# Other flows' writes say the same in their own error format.
http PUT /admin/persons/33333333-3333-4333-8333-333333333333 '{"status":"active"}'
expect_status 507
expect_records "$acked"
http GET /healthz; expect_status 200

step "still full: still not ready"
sleep 1
http GET /readyz; expect_status 503

step "space returns: ready again by itself, writes taken"
rm -f "$mnt/fill"
wait_until 10 ready || fail "not ready 10 s after space returned: $BODY"
http POST /topics/t/records "$body"; expect_status 200
acked=$((acked + 1))

step "restart: every acknowledged write is there"
stop_medflowd
start_medflowd --data-dir "$data"
expect_records "$acked"
stop_medflowd
echo "PASS $TEST_NAME"
