#!/usr/bin/env bash
# Issue 15 at the daemon's door, one request at a time: reads capped by bytes with where to go
# on (both buses), integers from paths, queries and bodies range-checked (4294967296 is not
# partition 0), Host required once (RFC 9112 3.2), an absolute-form target served like its
# origin-form. Every check runs and is reported; the script fails if any did (so a run against
# an older medflowd lists everything it gets wrong).
source "$(dirname "$0")/lib.sh"

FAILED=()
check() {  # check WHAT COMMAND...: runs the command (which calls fail on a mismatch) in a subshell
  local what=$1
  shift
  if ("$@"); then echo "ok   $what"; else echo "FAIL $what"; FAILED+=("$what"); fi
}

# raw BYTES: sends them on a new connection; RAW_STATUS is the answer's status ("closed": none).
raw() {
  RAW_STATUS=$(python3 - "${MF_URL##*:}" "$1" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
data = b""
try:
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except OSError:
    pass
print(data[9:12].decode() if data.startswith(b"HTTP/1.") else "closed")
EOF
)
}

value_kb() { printf '"%*s"' $(($1 * 1024)) '' | tr ' ' 'v'; }

# fill TOPIC N: N records of 100 KiB on partition 0.
fill() {
  local v
  v=$(value_kb 100)
  for _ in $(seq 1 "$2"); do
    http POST "/topics/$1/records" "{\"records\":[{\"key\":\"k\",\"partition\":0,\"value\":$v}]}"
    expect_status 200
  done
}

capped_read() {  # 30 records of 100 KiB: one read gives at most ~1 MiB, then go on from next
  http GET "/topics/$1/partitions/0/records?offset=0&max=1000"; expect_status 200
  local n next
  n=$(printf '%s' "$BODY" | jq '.records | length')
  [ "$n" -ge 1 ] && [ "$n" -le 10 ] || fail "a read of 1,000 records gave $n of 100 KiB (cap 1 MiB)"
  expect_json '.next.partition' 0
  next=$(printf '%s' "$BODY" | jq '.records[-1].offset + 1')
  expect_json '.next.offset' "$next"
  local seen=$n guard=0
  while [ "$seen" -lt 30 ] && [ $guard -lt 40 ]; do
    http GET "/topics/$1/partitions/0/records?offset=$next&max=1000"; expect_status 200
    n=$(printf '%s' "$BODY" | jq '.records | length')
    [ "$n" -ge 1 ] || fail "no record at offset $next of 30"
    seen=$((seen + n))
    next=$(printf '%s' "$BODY" | jq -r .next.offset)
    guard=$((guard + 1))
  done
  expect_eq "$seen" 30 "records read by following next"
  # max_bytes asks for less; one record comes whatever its size.
  http GET "/topics/$1/partitions/0/records?offset=0&max=1000&max_bytes=1024"; expect_status 200
  expect_json '.records | length' 1
  http GET "/topics/$1/partitions/0/records?offset=0&max_bytes=2000000"; expect_status 400
}

strict_path() {
  http GET "/topics/lim/partitions/4294967296/records"; expect_status 400
  http GET "/topics/lim/partitions/%2B0/records"; expect_status 400
  http GET "/topics/lim/partitions/%200/records"; expect_status 400
  http GET "/topics/lim/partitions/99999999999999999999999/records"; expect_status 400
}

strict_query() {
  http GET "/topics/lim/partitions/0/records?offset=%2B1"; expect_status 400
  http GET "/topics/lim/partitions/0/records?max=%201"; expect_status 400
  http GET "/topics/lim/partitions/0/records?offset=9223372036854775808"; expect_status 400
  http GET "/topics/lim/partitions/0/records?offset=1&max=2"; expect_status 200
}

strict_body() {
  http POST /topics/lim/records '{"records":[{"value":1,"partition":4294967296}]}'
  expect_status 400
  expect_json .error.message "records[0].partition must be an integer from 0 to 2147483647"
  http POST /topics/lim/records '{"records":[{"value":1,"partition":-1}]}'; expect_status 400
  http POST /topics/lim/records '{"records":[{"value":1,"partition":0}]}'; expect_status 200
}

host_rules() {
  raw 'GET /healthz HTTP/1.1\r\n\r\n'; expect_eq "$RAW_STATUS" 400 "HTTP/1.1 without Host"
  raw 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'; expect_eq "$RAW_STATUS" 400 "two Hosts"
  raw 'GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n'; expect_eq "$RAW_STATUS" 400 "invalid Host"
  raw 'GET /healthz HTTP/1.0\r\n\r\n'; expect_eq "$RAW_STATUS" 200 "HTTP/1.0 without Host"
  raw 'GET /healthz HTTP/1.1\r\nHost: x:1\r\nConnection: close\r\n\r\n'
  expect_eq "$RAW_STATUS" 200 "one Host"
}

absolute_form() {
  local port=${MF_URL##*:}
  http GET /healthz "" --request-target "http://127.0.0.1:$port/healthz"; expect_status 200
  expect_json .status alive
  http GET /healthz "" --request-target "http://127.0.0.1:$port/topics/lim/partitions/0/records?max=1"
  expect_status 200
  expect_json '.records | length' 1
}

step "embedded bus"
start_medflowd
http POST /topics '{"name":"lim","partitions":1}'; expect_status 201
check "strict integers in the path" strict_path
check "strict integers in the query" strict_query
check "a body's partition is range-checked" strict_body
check "Host: required in HTTP/1.1, once, valid" host_rules
check "absolute-form target" absolute_form
http POST /topics '{"name":"big","partitions":1}'; expect_status 201
fill big 30
check "reads capped by bytes, with next (embedded)" capped_read big
stop_medflowd

step "Kafka bus (mock cluster)"
start_kafka_mock big:1
start_medflowd --kafka-brokers "$KAFKA_BROKERS" --set medical_events.enabled=false \
  --set exams.enabled=false
fill big 30
check "reads capped by bytes, with next (kafka)" capped_read big
stop_medflowd

[ ${#FAILED[@]} -eq 0 ] || fail "${#FAILED[@]} checks failed: ${FAILED[*]}"
