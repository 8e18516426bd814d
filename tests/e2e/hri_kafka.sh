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
  --set hri.adopt_existing_topics=true --set hri.completion_delay_ms=200
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
jq -e "select(.batchId==\"$b\" and .topic==\"ingest.t1.s1.in\") | .failure | startswith(\"the record is not a JSON object\") or length > 0" "$E2E_TMP/invalid" >/dev/null \
  || fail ".invalid record: $(cat "$E2E_TMP/invalid")"
kcat -C -b "$B" -t ingest.t1.s1.notification -o beginning -e -q -f '%k %s\n' >"$E2E_TMP/notes"
expect_eq "$(awk -v b="$b" '$1==b {print $2}' "$E2E_TMP/notes" | jq -r .status | paste -sd, -)" \
  "started,sendCompleted,completed" "notifications"

stop_medflowd
echo "PASS $TEST_NAME"
