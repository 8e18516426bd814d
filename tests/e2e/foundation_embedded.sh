#!/usr/bin/env bash
# The foundation on the embedded default: operations endpoints, topic endpoints (good and bad
# input), error bodies, graceful stop, durability across restarts, configuration errors.
source "$(dirname "$0")/lib.sh"

step "configuration errors stop start-up with the key and the reason"
rc=0
"$MEDFLOWD" --port notaport >/dev/null 2>"$E2E_TMP/cfg.err" || rc=$?
expect_eq "$rc" 2 "exit code of a bad --port"
grep -q "invalid value for http.port (from --set http.port): expected an integer" "$E2E_TMP/cfg.err" \
  || fail "config error text: $(cat "$E2E_TMP/cfg.err")"
rc=0
MEDFLOW_STORE_SYNCHRONOUS=SOMETIMES "$MEDFLOWD" >/dev/null 2>"$E2E_TMP/cfg.err" || rc=$?
expect_eq "$rc" 2 "exit code of a bad environment value"
grep -q "store.synchronous (from MEDFLOW_STORE_SYNCHRONOUS)" "$E2E_TMP/cfg.err" || fail "env error text"

start_medflowd --set http.max_body_bytes=4096

# The scheduling policy (/proc/PID/task/TID/stat field 41; 3 = SCHED_BATCH, 0 = SCHED_OTHER) of
# each of medflowd's threads named $1.
policy_of_threads() {
  local t
  for t in /proc/"$MF_PID"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = "$1" ] && sed 's/.*) //' "$t/stat" | awk '{print $39}'
  done
}

step "CAF's timer thread runs under SCHED_BATCH, its workers under the normal policy"
[ "$(policy_of_threads caf.clock)" = 3 ] || fail "caf.clock policy: '$(policy_of_threads caf.clock)'"
[ -n "$(policy_of_threads caf.multiplexer)" ] || fail "no CAF worker threads found"
[ -z "$(policy_of_threads caf.multiplexer | grep -v '^0$')" ] || fail "a CAF worker is not SCHED_OTHER"

step "operations endpoints"
http GET /healthz; expect_status 200; expect_json .status alive
http GET /readyz; expect_status 200; expect_json .status ready
expect_json '[.checks[].name] | sort | join(",")' "bus,store"
http GET /openapi.json; expect_status 200
expect_json '.openapi' 3.0.3
expect_json '.paths["/topics/{topic}/records"].post.summary | length > 0' true

step "topics: create, idempotent create, conflicting count, bad names"
http POST /topics '{"name":"demo.in","partitions":3}'; expect_status 201
http POST /topics '{"name":"demo.in","partitions":3}'; expect_status 200
http POST /topics '{"name":"demo.in","partitions":4}'; expect_status 409
expect_json .error.code conflict
http POST /topics '{"name":"bad name!","partitions":1}'; expect_status 400
expect_json .error.code bad_request
http POST /topics '{"partitions":1}'; expect_status 400
http GET /topics; expect_status 200
expect_json '.topics[] | select(.name=="demo.in") | .partitions' 3

step "records: append with keys and headers, read back"
http POST /topics/demo.in/records \
  '{"records":[{"key":"patient-1","value":{"n":1},"headers":{"batchId":"b1"}},{"key":"patient-1","value":{"n":2}},{"value":"plain"}]}'
expect_status 200
expect_json '.offsets | length' 3
p1=$(printf '%s' "$BODY" | jq -r '.offsets[0].partition')
expect_json '.offsets[1].partition' "$p1"
expect_json '.offsets[1].offset - .offsets[0].offset' 1
http GET "/topics/demo.in/partitions/$p1/records?offset=0&max=10"; expect_status 200
expect_json '.records[0].key' patient-1
expect_json '.records[0].value.n' 1
expect_json '.records[0].headers.batchId' b1
expect_json '.records[1].value.n' 2
expect_json '.records[0].timestamp > 1600000000000' true
http GET "/topics/demo.in/partitions/$p1/records?offset=1&max=1"; expect_status 200
expect_json '.records | length' 1
expect_json '.records[0].offset' 1

step "bad input writes nothing and gets a JSON error"
before=$(curl -s "$MF_URL/topics/demo.in/partitions/$p1/records?offset=0&max=100" | jq '.records | length')
http POST /topics/demo.in/records '{"records":[{"key":"patient-1","value":1},{"key":5,"value":2}]}'
expect_status 400; expect_json .error.message 'records[1].key must be a string or null'
http POST /topics/demo.in/records '{"records":[{"key":"patient-1","value":1},{"key":"x","value":2,"partition":7}]}'
expect_status 404; expect_json .error.code not_found
http POST /topics/demo.in/records '{"records":[{"key":"patient-1"}]}'
expect_status 400; expect_json .error.message 'records[0].value is required'
http POST /topics/demo.in/records '{"records":['
expect_status 400; expect_json '.error.message | startswith("request body is not valid JSON")' true
http POST /topics/demo.in/records '{"records":[]}'
expect_status 400
after=$(curl -s "$MF_URL/topics/demo.in/partitions/$p1/records?offset=0&max=100" | jq '.records | length')
expect_eq "$after" "$before" "records after rejected appends"
http POST /topics/nope/records '{"records":[{"value":1}]}'; expect_status 404
expect_json .error.message 'unknown topic nope'
http GET /topics/demo.in/partitions/9/records; expect_status 404
http GET "/topics/demo.in/partitions/x/records"; expect_status 400
http GET "/topics/demo.in/partitions/0/records?offset=-1"; expect_status 400
http GET "/topics/demo.in/partitions/0/records?max=0"; expect_status 400
http GET /nothing/here; expect_status 404; expect_json .error.code not_found
http DELETE /healthz; expect_status 405; expect_json .error.code method_not_allowed
big=$(head -c 8000 /dev/zero | tr '\0' 'a')
http POST /topics/demo.in/records "{\"records\":[{\"value\":\"$big\"}]}"
expect_status 413; expect_json .error.code payload_too_large

step "metrics count requests by route and status"
http GET /metrics; expect_status 200
grep -q 'medflow_http_requests_total{route="/topics/{topic}/records",method="POST",status="200"}' <<<"$BODY" \
  || fail "no per-route request counter in /metrics"
grep -q 'medflow_store_commit_batch_size_count' <<<"$BODY" || fail "no commit batch histogram"

step "SIGTERM stops with exit 0; data survives the restart"
stop_medflowd
start_medflowd --set actors.clock_batch=false
[ "$(policy_of_threads caf.clock)" = 0 ] || fail "actors.clock_batch=false: caf.clock policy '$(policy_of_threads caf.clock)'"
http GET "/topics/demo.in/partitions/$p1/records?offset=0&max=10"; expect_status 200
expect_json '.records[1].value.n' 2
http GET /topics; expect_json '.topics[] | select(.name=="demo.in") | .partitions' 3
stop_medflowd
echo "PASS $TEST_NAME"
