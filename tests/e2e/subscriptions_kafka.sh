#!/usr/bin/env bash
# Pull subscriptions on the Kafka backend (librdkafka's mock cluster): records appended through
# the topic API reach the matching subscriber only; an unacked event comes again after kill -9
# and restart; after the ack nothing more.
source "$(dirname "$0")/lib.sh"

start_kafka_mock "${ME_TOPICS[@]}" ehealth-careplan.subject:2
start_medflowd --kafka-brokers "$KAFKA_BROKERS"

step "a matching and a non-matching subscriber"
http POST /subscriptions '{"topic":"ehealth-careplan.*","selector":"eventType IN ('"'"'create'"'"','"'"'update'"'"')"}'
expect_status 201
SUB=$(printf '%s' "$BODY" | jq -r .id)
http POST /subscriptions '{"topic":"ehealth-careplan.subject","selector":"eventType = '"'"'delete'"'"'"}'
expect_status 201
OTHER=$(printf '%s' "$BODY" | jq -r .id)

step "append through the topic API"
http POST /topics/ehealth-careplan.subject/records '{"records":[
  {"key":"k","value":{"n":1},"headers":{"eventType":"create"}},
  {"key":"k","value":{"n":2},"headers":{"eventType":"reference_added"}},
  {"key":"k","value":{"n":3},"headers":{"eventType":"update"}}]}'
expect_status 200
http GET "/subscriptions/$SUB/events"
expect_status 200
expect_json '[.events[].body.n]' '[1,3]'
expect_json '.events[0].headers.eventType' create
CUR=$(printf '%s' "$BODY" | jq -r '.events[0].cursor')
http GET "/subscriptions/$OTHER/events"
expect_json '.events | length' 0

step "ack the first, kill -9, restart: the second comes again"
http POST "/subscriptions/$SUB/ack" "{\"cursor\":\"$CUR\"}"
expect_status 204
kill9_medflowd
start_medflowd --kafka-brokers "$KAFKA_BROKERS"
http GET "/subscriptions/$SUB/events"
expect_status 200
expect_json '[.events[].body.n]' '[3]'
http POST "/subscriptions/$SUB/ack" "{\"cursor\":\"$(printf '%s' "$BODY" | jq -r .cursor)\"}"
expect_status 204
http GET "/subscriptions/$SUB/events"
expect_json '.events | length' 0
stop_medflowd
echo "PASS $TEST_NAME"
