#!/usr/bin/env bash
# medflowd on the Kafka backend (librdkafka's mock cluster speaks the real protocol), with kcat
# as an independent client in both directions: medflowd writes and kcat reads keys, values and
# headers; kcat writes and medflowd reads them back. Placement agrees with the Java client's
# murmur2 partitioner on both sides.
source "$(dirname "$0")/lib.sh"
command -v kcat >/dev/null || fail "kcat is not installed (scripts/setup.sh installs it)"

start_kafka_mock demo:3
# Only the bus here: the flows' topics (medical events, and the event topics the medical events
# and exams flows publish to) are not on this mock cluster (it cannot create topics).
start_medflowd --kafka-brokers "$KAFKA_BROKERS" --set medical_events.enabled=false \
  --set exams.enabled=false

step "ready on Kafka; the topic is visible with its partitions"
http GET /readyz; expect_status 200; expect_json .status ready
http GET /topics; expect_status 200
expect_json '.topics[] | select(.name=="demo") | .partitions' 3

step "medflowd writes, kcat reads keys, values and headers"
http POST /topics/demo/records \
  '{"records":[{"key":"patient-7","value":{"n":1},"headers":{"batchId":"b-1","source":"medflow"}},{"key":"patient-7","value":{"n":2}},{"key":"patient-8","value":"x"}]}'
expect_status 200
p7=$(printf '%s' "$BODY" | jq -r '.offsets[0].partition')
expect_json '.offsets[1].partition' "$p7"
p8=$(printf '%s' "$BODY" | jq -r '.offsets[2].partition')
kcat -C -b "$KAFKA_BROKERS" -t demo -p "$p7" -o beginning -e -q -f '%k|%s|%h\n' >"$E2E_TMP/kcat.out"
expect_eq "$(sed -n 1p "$E2E_TMP/kcat.out")" 'patient-7|{"n":1}|batchId=b-1,source=medflow' "first record seen by kcat"
expect_eq "$(sed -n 2p "$E2E_TMP/kcat.out")" 'patient-7|{"n":2}|' "second record seen by kcat"
kcat -C -b "$KAFKA_BROKERS" -t demo -p "$p8" -o beginning -e -q -f '%k|%s\n' >"$E2E_TMP/kcat8.out"
grep -qx 'patient-8|"x"' "$E2E_TMP/kcat8.out" || fail "kcat did not find patient-8 on partition $p8"

step "kcat writes (murmur2 partitioner, headers), medflowd reads"
printf 'patient-7:{"from":"kcat"}\n' |
  kcat -P -b "$KAFKA_BROKERS" -t demo -K: -H batchId=b-2 -H origin=kcat -X partitioner=murmur2_random
http GET "/topics/demo/partitions/$p7/records?offset=0&max=100"; expect_status 200
expect_json '[.records[] | select((.value | objects | .from) == "kcat")] | length' 1
expect_json '.records[] | select((.value | objects | .from) == "kcat") | .key' patient-7
expect_json '.records[] | select((.value | objects | .from) == "kcat") | .headers.batchId' b-2
expect_json '.records[] | select((.value | objects | .from) == "kcat") | .headers.origin' kcat
printf 'raw text\n' | kcat -P -b "$KAFKA_BROKERS" -t demo -p 0
http GET "/topics/demo/partitions/0/records?offset=0&max=100"; expect_status 200
expect_json '[.records[].value | select(. == "raw text")] | length' 1

step "bad input on Kafka: unknown topic and partition write nothing"
http POST /topics/nope/records '{"records":[{"value":1}]}'; expect_status 404
http POST /topics/demo/records '{"records":[{"value":1,"partition":9}]}'; expect_status 404
http GET /topics/demo/partitions/9/records; expect_status 404

stop_medflowd
echo "PASS $TEST_NAME"
