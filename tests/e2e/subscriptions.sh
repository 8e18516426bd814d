#!/usr/bin/env bash
# Subscriptions over HTTP on the embedded bus: create/list/get/delete with 400/404/409 JSON
# errors (nothing stored when refused); pull delivery of records appended through the topic
# API to a matching and a non-matching subscriber; at least once: kill -9 between delivery and
# ack, the event comes again after restart, nothing lost; ack then nothing more. Then with
# medical-events jobs: a long poll returns as soon as a job's change lands (a non-matching one
# waits out its wait_ms, empty); kill -9 between delivery and ack redelivers it; webhooks (a
# python3 receiver): failing then recovering, dead letter after max_attempts read back through
# the topic API, and a receiver that never answers holds up no other subscription.
source "$(dirname "$0")/lib.sh"

start_medflowd --set subscriptions.max_count=3

step "refusals: 400 naming the position, nothing stored; 404 JSON for unknown"
http POST /subscriptions '{"topic":"ehealth-careplan","selector":"eventType = "}'
expect_status 400
expect_json '.error.code' bad_request
expect_json '.error.message | startswith("selector: expected")' true
expect_json '.error.detail.column' 13
http POST /subscriptions '{"topic":"ehealth-careplan.>.x"}'
expect_status 400
expect_json '.error.message' "topic: expected end of text after '>', found '.' at column 19"
http POST /subscriptions '{"topic":"a","delivery":{"mode":"push"}}'
expect_status 400
http GET /subscriptions
expect_status 200
expect_json '.subscriptions | length' 0
http GET /subscriptions/nope
expect_status 404
expect_json '.error.code' not_found
http DELETE /subscriptions/nope
expect_status 404

step "topics and two subscribers: one matches creates, one matches nothing"
http POST /topics '{"name":"ehealth-careplan.subject","partitions":2}'
expect_status 201
http POST /subscriptions '{"topic":"ehealth-careplan.>","selector":"eventType = '"'"'create'"'"' AND patientReference LIKE '"'"'Patient/%'"'"'"}'
expect_status 201
expect_json '.delivery.mode' pull
SUB=$(printf '%s' "$BODY" | jq -r .id)
http GET "/subscriptions/$SUB"
expect_status 200
expect_json '.topic' 'ehealth-careplan.>'
http POST /subscriptions '{"topic":"ehealth-careplan.*","selector":"eventType = '"'"'delete'"'"'"}'
expect_status 201
OTHER=$(printf '%s' "$BODY" | jq -r .id)
http POST /subscriptions '{"topic":"x"}'
expect_status 201
http POST /subscriptions '{"topic":"y"}'
expect_status 409
http GET /subscriptions
expect_json '.subscriptions | length' 3

step "append through the topic API (a topic created later is picked up too)"
http POST /topics '{"name":"ehealth-careplan.goal","partitions":1}'
expect_status 201
http POST /topics/ehealth-careplan.subject/records '{"records":[
  {"key":"k1","value":{"n":1},"headers":{"eventType":"create","patientReference":"Patient/1"}},
  {"key":"k1","value":{"n":2},"headers":{"eventType":"update","patientReference":"Patient/1"}},
  {"key":"k1","value":{"n":3},"headers":{"eventType":"create"}},
  {"key":"k1","value":{"n":4},"headers":{"eventType":"create","patientReference":"Patient/2"}}]}'
expect_status 200
http POST /topics/ehealth-careplan.goal/records '{"records":[
  {"value":{"n":5},"headers":{"eventType":"create","patientReference":"Patient/3"}}]}'
expect_status 200

http GET "/subscriptions/$SUB/events?max=0"
expect_status 400
http GET "/subscriptions/$SUB/events?max=100000000"
expect_status 400
http GET "/subscriptions/$SUB/events"
expect_status 200
expect_json '[.events[].body.n]' '[5,1,4]'
expect_json '.events[1].headers.patientReference' 'Patient/1'
CUR=$(printf '%s' "$BODY" | jq -r '.events[1].cursor')
http GET "/subscriptions/$OTHER/events"
expect_json '.events | length' 0

step "ack the first two, kill -9 before acking the third: it comes again after restart"
http POST "/subscriptions/$SUB/ack" "{\"cursor\":\"$CUR\"}"
expect_status 204
http GET "/subscriptions/$SUB/events"
expect_json '[.events[].body.n]' '[4]'
kill9_medflowd
start_medflowd --set subscriptions.max_count=3
http GET "/subscriptions/$SUB/events"
expect_status 200
expect_json '[.events[].body.n]' '[4]'
LAST=$(printf '%s' "$BODY" | jq -r '.cursor')
http POST "/subscriptions/$SUB/ack" '{"cursor":"not-a-cursor!"}'
expect_status 400
http POST "/subscriptions/$SUB/ack" "{\"cursor\":\"$LAST\"}"
expect_status 204
http GET "/subscriptions/$SUB/events"
expect_json '.events | length' 0

step "delete"
http DELETE "/subscriptions/$SUB"
expect_status 204
http GET "/subscriptions/$SUB/events"
expect_status 404
stop_medflowd

step "jobs, long polls and webhooks: a fresh daemon with a webhook receiver"
rm -rf "$E2E_TMP/data"
python3 "$SOURCE_DIR/tests/e2e/webhook_receiver.py" "$E2E_TMP/hooks.log" "$E2E_TMP/hook.port" &
BG_PIDS+=($!)
wait_until 10 test -s "$E2E_TMP/hook.port" || fail "the webhook receiver did not start"
HOOK="http://127.0.0.1:$(cat "$E2E_TMP/hook.port")"
episode_fixture
ARGS=(--set events.base_url="$BASE" --set subscriptions.pull.max_wait_ms=30000
      --set subscriptions.webhook.backoff_initial_ms=50 --set subscriptions.webhook.backoff_max_ms=200
      --set subscriptions.webhook.max_attempts=3 --set subscriptions.webhook.timeout_ms=1000)
start_medflowd "${ARGS[@]}"
registries
# subscribe JSON...: POST /subscriptions, the id in SUB_ID.
subscribe() { http POST /subscriptions "$1"; expect_status 201; SUB_ID=$(printf '%s' "$BODY" | jq -r .id); }
subscribe "$(jq -nc --arg s "eventType = 'created' AND patientReference LIKE '%/Patient/$P1'" \
  '{topic: "ehealth-episodeofcare", selector: $s}')"
MATCH=$SUB_ID
subscribe '{"topic":"ehealth-episodeofcare","selector":"patientReference = '"'"'Patient/nobody'"'"'"}'
NOMATCH=$SUB_ID
subscribe '{"topic":"ehealth-episodeofcare","selector":"eventType = '"'"'created'"'"'","delivery":{"mode":"webhook","url":"'"$HOOK"'/ok?fail=2"}}'
RECOVERS=$SUB_ID
subscribe '{"topic":"ehealth-episodeofcare","delivery":{"mode":"webhook","url":"'"$HOOK"'/fail"}}'
DEAD=$SUB_ID
subscribe '{"topic":"ehealth-episodeofcare","delivery":{"mode":"webhook","url":"'"$HOOK"'/hang"}}'
http POST /subscriptions '{"topic":"x","delivery":{"mode":"webhook","url":"ftp://host/x"}}'
expect_status 400
expect_json '.error.message' 'delivery.url: expected an http:// or https:// URL with a host'
http GET "/subscriptions/$MATCH/events?wait_ms=30001"
expect_status 400
http GET "/subscriptions/$RECOVERS/events"
expect_status 409

step "a long poll returns as soon as the job's change lands"
poll_while_episode_created "$MATCH"
expect_json '[.events[].headers.eventType]' '["created"]'
expect_json '.events[0].topic' ehealth-episodeofcare
expect_json '.events[0].body.resourceReference' "$BASE/EpisodeOfCare/$EP"
EV_OFFSET=$(printf '%s' "$BODY" | jq -r '.events[0].offset')

step "a non-matching subscriber waits out its wait_ms and gets nothing"
t0=$(date +%s%N)
http GET "/subscriptions/$NOMATCH/events?wait_ms=700"
expect_status 200
expect_json '.events | length' 0
waited_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$waited_ms" -ge 650 ] || fail "a long poll with nothing for it answered after ${waited_ms} ms"

step "kill -9 between delivery and ack: the job's event comes again"
kill9_medflowd
start_medflowd "${ARGS[@]}"
http GET "/subscriptions/$MATCH/events?wait_ms=5000"
expect_status 200
expect_json '[.events[].offset]' "[$EV_OFFSET]"
http POST "/subscriptions/$MATCH/ack" "{\"cursor\":\"$(printf '%s' "$BODY" | jq -r '.events[0].cursor')\"}"
expect_status 204
http GET "/subscriptions/$MATCH/events?wait_ms=300"
expect_json '.events | length' 0

step "webhooks: failing then recovering; dead letter after 3 failures; a hanging receiver"
# A second job: the rename (eventType updated) goes to the subscribers without a selector.
api PATCH "/api/patients/$P1/episodes/$EP" '{"name":"Renamed"}'
expect_status 202
wait_job "$(job_of)" 30
# count PATH STATUS: requests to PATH logged with STATUS.
count() { jq -r --arg p "$1" --argjson s "$2" 'select(.path == $p and .status == $s) | .path' \
  "$E2E_TMP/hooks.log" 2>/dev/null | grep -c . || true; }
wait_until 20 test "$(count '/ok?fail=2' 200)" -ge 1 || fail "the recovering receiver got nothing"
expect_eq "$(count '/ok?fail=2' 500)" 2 "failed calls before the receiver recovered"
ok=$(jq -c 'select(.path == "/ok?fail=2" and .status == 200)' "$E2E_TMP/hooks.log" | head -n1)
BODY=$ok
expect_json '.headers.eventType' created
expect_json '.headers["X-Medflow-Subscription"]' "$RECOVERS"
expect_json '.headers["X-Medflow-Topic"]' ehealth-episodeofcare
expect_json '.headers["Content-Type"]' application/json
expect_json '.body | fromjson | .resourceReference' "$BASE/EpisodeOfCare/$EP"
# Both events of the failing receiver end in the dead letter topic, in order.
dead_letters() {
  http GET "/topics/subscriptions.dead_letter/partitions/0/records?offset=0&max=100"
  [ "$(printf '%s' "$BODY" | jq --arg s "$DEAD" '[.records[] | select(.headers.subscription_id == $s)] | length')" -ge 2 ]
}
wait_until 30 dead_letters || fail "the failing receiver's events are not dead-lettered: $BODY"
expect_json "[.records[] | select(.headers.subscription_id == \"$DEAD\") | .value.eventType]" '["created","updated"]'
expect_json "[.records[] | select(.headers.subscription_id == \"$DEAD\") | .headers.dead_letter_reason | startswith(\"webhook failed 3 times; last: answered 500\")] | all" true
expect_json "[.records[] | select(.headers.subscription_id == \"$DEAD\") | .headers.source_topic] | unique" '["ehealth-episodeofcare"]'
expect_eq "$(count /fail 500)" 6 "calls to the failing receiver (3 per event)"
# The hanging receiver got its first call and never answered; the others were served meanwhile.
[ "$(count /hang 0)" -ge 1 ] || fail "the hanging receiver got no call"
stop_medflowd
echo "PASS $TEST_NAME"
