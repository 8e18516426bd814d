#!/usr/bin/env bash
# Subscriptions over HTTP on the embedded bus: create/list/get/delete with 400/404/409 JSON
# errors (nothing stored when refused); pull delivery of records appended through the topic
# API to a matching and a non-matching subscriber; at least once: kill -9 between delivery and
# ack, the event comes again after restart, nothing lost; ack then nothing more.
source "$(dirname "$0")/lib.sh"

start_medflowd --set subscriptions.max_count=3
api() { http "$@"; }

step "refusals: 400 naming the position, nothing stored; 404 JSON for unknown"
api POST /subscriptions '{"topic":"ehealth-careplan","selector":"eventType = "}'
expect_status 400
expect_json '.error.code' bad_request
expect_json '.error.message | startswith("selector: expected")' true
expect_json '.error.detail.column' 13
api POST /subscriptions '{"topic":"ehealth-careplan.>.x"}'
expect_status 400
expect_json '.error.message' "topic: expected end of text after '>', found '.' at column 19"
api POST /subscriptions '{"topic":"a","delivery":{"mode":"push"}}'
expect_status 400
api GET /subscriptions
expect_status 200
expect_json '.subscriptions | length' 0
api GET /subscriptions/nope
expect_status 404
expect_json '.error.code' not_found
api DELETE /subscriptions/nope
expect_status 404

step "topics and two subscribers: one matches creates, one matches nothing"
api POST /topics '{"name":"ehealth-careplan.subject","partitions":2}'
expect_status 201
api POST /subscriptions '{"topic":"ehealth-careplan.>","selector":"eventType = '"'"'create'"'"' AND patientReference LIKE '"'"'Patient/%'"'"'"}'
expect_status 201
expect_json '.delivery.mode' pull
SUB=$(printf '%s' "$BODY" | jq -r .id)
api GET "/subscriptions/$SUB"
expect_status 200
expect_json '.topic' 'ehealth-careplan.>'
api POST /subscriptions '{"topic":"ehealth-careplan.*","selector":"eventType = '"'"'delete'"'"'"}'
expect_status 201
OTHER=$(printf '%s' "$BODY" | jq -r .id)
api POST /subscriptions '{"topic":"x"}'
expect_status 201
api POST /subscriptions '{"topic":"y"}'
expect_status 409
api GET /subscriptions
expect_json '.subscriptions | length' 3

step "append through the topic API (a topic created later is picked up too)"
api POST /topics '{"name":"ehealth-careplan.goal","partitions":1}'
expect_status 201
api POST /topics/ehealth-careplan.subject/records '{"records":[
  {"key":"k1","value":{"n":1},"headers":{"eventType":"create","patientReference":"Patient/1"}},
  {"key":"k1","value":{"n":2},"headers":{"eventType":"update","patientReference":"Patient/1"}},
  {"key":"k1","value":{"n":3},"headers":{"eventType":"create"}},
  {"key":"k1","value":{"n":4},"headers":{"eventType":"create","patientReference":"Patient/2"}}]}'
expect_status 200
api POST /topics/ehealth-careplan.goal/records '{"records":[
  {"value":{"n":5},"headers":{"eventType":"create","patientReference":"Patient/3"}}]}'
expect_status 200

api GET "/subscriptions/$SUB/events?max=0"
expect_status 400
api GET "/subscriptions/$SUB/events?max=100000000"
expect_status 400
api GET "/subscriptions/$SUB/events"
expect_status 200
expect_json '[.events[].body.n]' '[5,1,4]'
expect_json '.events[1].headers.patientReference' 'Patient/1'
CUR=$(printf '%s' "$BODY" | jq -r '.events[1].cursor')
api GET "/subscriptions/$OTHER/events"
expect_json '.events | length' 0

step "ack the first two, kill -9 before acking the third: it comes again after restart"
api POST "/subscriptions/$SUB/ack" "{\"cursor\":\"$CUR\"}"
expect_status 204
api GET "/subscriptions/$SUB/events"
expect_json '[.events[].body.n]' '[4]'
kill9_medflowd
start_medflowd --set subscriptions.max_count=3
api GET "/subscriptions/$SUB/events"
expect_status 200
expect_json '[.events[].body.n]' '[4]'
LAST=$(printf '%s' "$BODY" | jq -r '.cursor')
api POST "/subscriptions/$SUB/ack" '{"cursor":"not-a-cursor!"}'
expect_status 400
api POST "/subscriptions/$SUB/ack" "{\"cursor\":\"$LAST\"}"
expect_status 204
api GET "/subscriptions/$SUB/events"
expect_json '.events | length' 0

step "delete"
api DELETE "/subscriptions/$SUB"
expect_status 204
api GET "/subscriptions/$SUB/events"
expect_status 404
stop_medflowd
echo "PASS $TEST_NAME"
