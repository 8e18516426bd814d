#!/usr/bin/env bash
# The batches flow on the Kafka backend (librdkafka's mock cluster), with kcat as the data
# integrator and consumer: kcat writes records with a batchId header to .in, medflowd
# validates them into .out / .invalid, and kcat reads keys, values, headers and notifications.
# The mock cluster cannot create topics, so the stream's topics exist beforehand and medflowd
# adopts them (hri.adopt_existing_topics).
source "$(dirname "$0")/lib.sh"
command -v kcat >/dev/null || fail "kcat is not installed (scripts/setup.sh installs it)"

start_kafka_mock "${ME_TOPICS[@]}" ingest.t1.s1.in:2 ingest.t1.s1.notification:1 \
  ingest.t1.s1.out:2 ingest.t1.s1.invalid:1
start_medflowd --kafka-brokers "$KAFKA_BROKERS" --set hri.auth.disabled=true \
  --set hri.adopt_existing_topics=true --set hri.completion_delay_ms=1000
B="$KAFKA_BROKERS"

step "stream over the existing topics, a batch"
http POST /hri/tenants/t1; expect_status 201
http POST /hri/tenants/t1/streams/s1 '{"numPartitions":2,"retentionMs":3600000,"validator":"fhir"}'
expect_status 201
http POST /hri/tenants/t1/batches '{"name":"kafka","topic":"ingest.t1.s1.in","dataType":"claims"}'
expect_status 201
b=$(printf '%s' "$BODY" | jq -r .id)

step "kcat writes three records (one invalid) with the batchId header"
for i in 1 2; do
  printf 'key-%s:{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p%s"}}]}\n' "$i" "$i" |
    kcat -P -b "$B" -t ingest.t1.s1.in -K: -H "batchId=$b" -H "source=kcat"
done
printf 'key-3:not json\n' | kcat -P -b "$B" -t ingest.t1.s1.in -K: -H "batchId=$b"
http PUT "/hri/tenants/t1/batches/$b/action/sendComplete" '{"expectedRecordCount":3}'; expect_status 200

done_yet() { [ "$(curl -s "$MF_URL/hri/tenants/t1/batches/$b" | jq -r .status)" = completed ]; }
wait_until 30 done_yet || fail "batch did not complete: $(curl -s "$MF_URL/hri/tenants/t1/batches/$b")"
http GET "/hri/tenants/t1/batches/$b"; expect_json .actualRecordCount 3; expect_json .invalidRecordCount 1

step "kcat reads .out (key, value, headers unchanged), .invalid and the notifications"
kcat -C -b "$B" -t ingest.t1.s1.out -o beginning -e -q -f '%k|%h|%s\n' | sort >"$E2E_TMP/out"
expect_eq "$(wc -l <"$E2E_TMP/out")" 2 "records on .out"
grep -q "^key-1|batchId=$b,source=kcat|{\"resourceType\":\"Bundle\"" "$E2E_TMP/out" || fail ".out record: $(cat "$E2E_TMP/out")"
kcat -C -b "$B" -t ingest.t1.s1.invalid -o beginning -e -q -f '%s\n' >"$E2E_TMP/invalid"
expect_eq "$(jq -r "select(.batchId==\"$b\" and .topic==\"ingest.t1.s1.in\") | .failure | startswith(\"parse error\")" "$E2E_TMP/invalid")" \
  true ".invalid failure of the garbage record"
kcat -C -b "$B" -t ingest.t1.s1.notification -o beginning -e -q -f '%k %s\n' >"$E2E_TMP/notes"
expect_eq "$(awk -v b="$b" '$1==b {print $2}' "$E2E_TMP/notes" | jq -r .status | paste -sd, -)" \
  "started,sendCompleted,completed" "notifications"

# kcat as the data integrator: kproduce BATCH_ID VALUE [KEY] (no header when BATCH_ID is empty)
kproduce() {
  local h=()
  [ -n "$1" ] && h=(-H "batchId=$1")
  printf '%s:%s\n' "${3:-k}" "$2" | kcat -P -b "$B" -t ingest.t1.s1.in -K: "${h[@]}"
}
bundle() { printf '{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"%s"}}]}' "$1"; }
# kcat as the consumer: every value of a topic, one JSON per line; headers as "h=v,..." via %h
kvalues() { kcat -C -b "$B" -t "$1" -o beginning -e -q -f '%s\n'; }
out_count() { kcat -C -b "$B" -t ingest.t1.s1.out -o beginning -e -q -f '%h\n' | grep -c "batchId=$1\(,\|$\)" || true; }
invalid_count() { kvalues ingest.t1.s1.invalid | jq -s "[.[] | select($1)] | length"; }
has_invalid() { [ "$(invalid_count "$1")" = "$2" ]; }
has_out() { [ "$(out_count "$1")" = "$2" ]; }
status_of() { curl -s "$MF_URL/hri/tenants/t1/batches/$1" | jq -r .status; }
is_status() { [ "$(status_of "$1")" = "$2" ]; }
wait_status() { wait_until 20 is_status "$1" "$2" || fail "batch $1 did not reach $2 (is $(status_of "$1"))"; }
create_batch() {
  http POST /hri/tenants/t1/batches "{\"name\":\"$1\",\"topic\":\"ingest.t1.s1.in\",\"dataType\":\"claims\"${2:-}}"
  expect_status 201
  printf '%s' "$BODY" | jq -r .id
}

step "late record after completion (kcat) -> .invalid, batch stays completed"
kproduce "$b" "$(bundle late)"
wait_until 15 has_invalid ".batchId==\"$b\" and .failure==\"Bad Message - batchId is already completed\"" 1 \
  || fail "no invalid record for the late record: $(kvalues ingest.t1.s1.invalid)"
expect_eq "$(status_of "$b")" completed "status after a late record"

step "invalid threshold reached -> failed; later records dropped"
b2=$(create_batch threshold ',"invalidThreshold":2')
kproduce "$b2" '"not a bundle"'
kproduce "$b2" '{"resourceType":"Bundle","type":"nope"}'
wait_status "$b2" failed
http GET "/hri/tenants/t1/batches/$b2"
expect_json .failureMessage "Failing Batch: $b2, too many invalid records invalidCount: 2 == invalidThreshold: 2"
kproduce "$b2" "$(bundle after-fail)"

step "too many records -> failed"
b3=$(create_batch toomany)
# Both records counted before sendComplete: sent after it, the second could come later than the
# 200 ms completion delay on a loaded machine (two kcat processes) and find the batch completed.
kproduce "$b3" "$(bundle a)"
kproduce "$b3" "$(bundle b)"
wait_until 15 has_out "$b3" 2 || fail "records of $b3 not forwarded"
http PUT "/hri/tenants/t1/batches/$b3/action/sendComplete" '{"expectedRecordCount":1}'; expect_status 200
wait_status "$b3" failed
http GET "/hri/tenants/t1/batches/$b3"
expect_json .failureMessage "Failing batch: $b3, received too many records, actualRecordCount: 2 > expectedRecordCount: 1"

step "unknown and missing batchId -> .invalid"
kproduce nosuchbatch "$(bundle x)"
kproduce "" "$(bundle y)"
wait_until 15 has_invalid '.failure=="Bad Message - Unknown batchId" and .batchId=="nosuchbatch"' 1 \
  || fail "unknown batchId not reported: $(kvalues ingest.t1.s1.invalid)"
wait_until 15 has_invalid '.failure=="Bad Message - No header or batchId node" and (has("batchId") | not)' 1 \
  || fail "missing batchId not reported: $(kvalues ingest.t1.s1.invalid)"

step "terminate stops forwarding"
b4=$(create_batch term)
kproduce "$b4" "$(bundle before)"
wait_until 15 has_out "$b4" 1 || fail "first record of $b4 not forwarded"
http PUT "/hri/tenants/t1/batches/$b4/action/terminate" '{"metadata":{"why":"oops"}}'; expect_status 200
expect_eq "$(status_of "$b4")" terminated "status after terminate"
kproduce "$b4" "$(bundle after)"

step "two interleaved batches complete independently"
b5=$(create_batch left); b6=$(create_batch right)
for i in 1 2 3; do kproduce "$b5" "$(bundle l$i)" "k$i"; kproduce "$b6" "$(bundle r$i)" "k$i"; done
kproduce "$b6" "$(bundle r4)"
http PUT "/hri/tenants/t1/batches/$b5/action/sendComplete" '{"expectedRecordCount":3}'; expect_status 200
http PUT "/hri/tenants/t1/batches/$b6/action/sendComplete" '{"recordCount":4}'; expect_status 200
wait_status "$b5" completed; wait_status "$b6" completed
expect_eq "$(out_count "$b5"),$(out_count "$b6")" "3,4" "records of the interleaved batches on .out"

step "records after failure and after terminate were dropped, not forwarded"
# The last record of "right" (key k, the same partition as the dropped ones) came after them
# and has been consumed, so the dropped records were read by then too.
expect_eq "$(out_count "$b2"),$(out_count "$b4")" "0,1" "records on .out of the failed and terminated batches"
kcat -C -b "$B" -t ingest.t1.s1.notification -o beginning -e -q -f '%k %s\n' >"$E2E_TMP/notes"
expect_eq "$(awk -v b="$b4" '$1==b {print $2}' "$E2E_TMP/notes" | jq -r .status | paste -sd, -)" \
  "started,terminated" "notifications of the terminated batch"

stop_medflowd
echo "PASS $TEST_NAME"
