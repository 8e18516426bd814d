#!/usr/bin/env bash
# Subscriptions on the Kafka backend (librdkafka's mock cluster): records appended through the
# topic API reach the matching subscriber only; an unacked event comes again after kill -9 and
# restart; after the ack nothing more. A long poll returns as soon as a medical-events job's
# change lands; a webhook receiver that fails then recovers gets it, and one that always fails
# sends it to subscriptions.dead_letter, read back with kcat with its headers; the same
# change comes on the subscription's server-sent event stream.
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

step "a job's change: long poll, webhook recovering, dead letter read by kcat"
python3 "$SOURCE_DIR/tests/e2e/webhook_receiver.py" "$E2E_TMP/hooks.log" "$E2E_TMP/hook.port" &
BG_PIDS+=($!)
wait_until 10 test -s "$E2E_TMP/hook.port" || fail "the webhook receiver did not start"
HOOK="http://127.0.0.1:$(cat "$E2E_TMP/hook.port")"
episode_fixture
stop_medflowd
# The medical events consumers join their consumer group anew. The mock cluster, unlike a
# broker, holds a group that its last member just left in a rebalance for the session timeout
# less a second before it takes a new member: keep that short, the long poll below waits 10 s.
start_medflowd --kafka-brokers "$KAFKA_BROKERS" --set events.base_url="$BASE" \
  --set bus.kafka.session_timeout_ms=4000 \
  --set subscriptions.webhook.backoff_initial_ms=50 --set subscriptions.webhook.backoff_max_ms=200 \
  --set subscriptions.webhook.max_attempts=3
registries
http POST /subscriptions '{"topic":"ehealth-episodeofcare","selector":"eventType = '"'"'created'"'"'"}'
expect_status 201
POLL=$(printf '%s' "$BODY" | jq -r .id)
# The same subscription as a server-sent event stream, open before the job lands.
curl -sN --max-time 60 -D "$E2E_TMP/kstream.head" "$MF_URL/subscriptions/$POLL/stream" \
  >"$E2E_TMP/kstream.sse" 2>/dev/null &
BG_PIDS+=($!)
wait_until 10 grep -qs '^HTTP/1.1 200' "$E2E_TMP/kstream.head" || fail "the stream did not start"
http POST /subscriptions '{"topic":"ehealth-episodeofcare","delivery":{"mode":"webhook","url":"'"$HOOK"'/ok?fail=1"}}'
expect_status 201
http POST /subscriptions '{"topic":"ehealth-episodeofcare","delivery":{"mode":"webhook","url":"'"$HOOK"'/fail"}}'
expect_status 201
DEAD=$(printf '%s' "$BODY" | jq -r .id)
poll_while_episode_created "$POLL"
expect_json '[.events[].headers.eventType]' '["created"]'
expect_json '.events[0].body.resourceReference' "$BASE/EpisodeOfCare/$EP"
ok_calls() { jq -r 'select(.path == "/ok?fail=1" and .status == 200) | .path' "$E2E_TMP/hooks.log" 2>/dev/null | grep -c . || true; }
wait_until 20 test "$(ok_calls)" -ge 1 || fail "the recovering receiver got nothing"
BODY=$(jq -c 'select(.path == "/ok?fail=1" and .status == 200)' "$E2E_TMP/hooks.log" | head -n1)
expect_json '.headers.eventType' created
expect_json '.headers.resourceProfile' ehealth-episodeofcare
dead() { kcat -C -b "$KAFKA_BROKERS" -t subscriptions.dead_letter -o beginning -e -q -f '%k|%h|%s\n' 2>/dev/null; }
wait_until 30 bash -c "[ \$(kcat -C -b $KAFKA_BROKERS -t subscriptions.dead_letter -o beginning -e -q -f '%s\n' 2>/dev/null | grep -c .) -ge 1 ]" \
  || fail "nothing in subscriptions.dead_letter"
IFS='|' read -r key hdrs body < <(dead | head -n1)
expect_eq "$key" "$DEAD" "dead letter key"
for h in eventType=created resourceProfile=ehealth-episodeofcare "subscription_id=$DEAD" \
         source_topic=ehealth-episodeofcare; do
  [[ ",$hdrs," == *",$h,"* ]] || fail "header $h missing in $hdrs"
done
[[ "$hdrs" == *"dead_letter_reason=webhook failed 3 times; last: answered 500"* ]] || fail "reason: $hdrs"
expect_eq "$(printf '%s' "$body" | jq -r .resourceReference)" "$BASE/EpisodeOfCare/$EP" "dead letter body"

step "the same change on the subscription's event stream (SSE, Kafka bus)"
wait_until 20 grep -qs '^event: ehealth-episodeofcare' "$E2E_TMP/kstream.sse" \
  || fail "the stream got no event: $(head -c 500 "$E2E_TMP/kstream.sse")"
DATA=$(grep -m1 '^data: ' "$E2E_TMP/kstream.sse" | cut -c7-)
expect_eq "$(printf '%s' "$DATA" | jq -r .headers.eventType)" created "the stream's event type"
expect_eq "$(printf '%s' "$DATA" | jq -r .body.resourceReference)" "$BASE/EpisodeOfCare/$EP" \
  "the stream's event body"
expect_eq "$(grep -m1 '^id: ' "$E2E_TMP/kstream.sse" | cut -c5-)" \
  "$(printf '%s' "$DATA" | jq -r .cursor)" "the stream's event id (its cursor)"
stop_medflowd
echo "PASS $TEST_NAME"
