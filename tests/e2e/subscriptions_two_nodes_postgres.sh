#!/usr/bin/env bash
# Issue 18, webhooks with several instances: two medflowd on ONE PostgreSQL and the Kafka mock
# bus. Both run the actor of every webhook subscription (one created through the other node
# starts here within store.lease_ms / 3), but only the node holding the store lease
# "subscriptions.webhooks" posts: events appended through either node reach the receiver once
# each, not once per node. Then the holder is killed -9: the other node takes the lease over
# once it expired (store.lease_ms) and goes on from the durable positions: the next events
# arrive, each once. Last the new holder is stopped with SIGTERM: it exits 0 having given the
# lease up, and a third node posts the next events, each once. Skipped (77) without PostgreSQL.
E2E_STORE=postgres
source "$(dirname "$0")/lib.sh"
CLEANUP_HOOKS+=('[ $rc -eq 0 ] || tail -n 15 "$E2E_TMP"/node*.err >&2 2>/dev/null')
start_kafka_mock "${ME_TOPICS[@]}" ehealth-careplan:2

python3 "$SOURCE_DIR/tests/e2e/webhook_receiver.py" "$E2E_TMP/hooks.log" "$E2E_TMP/hook.port" &
BG_PIDS+=($!)
wait_until 10 test -s "$E2E_TMP/hook.port" || fail "the webhook receiver did not start"
HOOK="http://127.0.0.1:$(cat "$E2E_TMP/hook.port")"
: >"$E2E_TMP/hooks.log"

# One deployment on one store: the nodes share its keys (the exams flow refuses a store sealed
# under another key).
NODE_ARGS=(--kafka-brokers "$KAFKA_BROKERS" --set store.lease_ms=1500
           --set exams.crypto_key="$(printf 'a%.0s' $(seq 64))"
           --set exams.jwt_key=e2e-exam-token-key --set exams.result_token_key=e2e-result-token-key)
# append NODE FROM TO: events n = FROM..TO through node NODE, keyed over both partitions.
append() {
  local i records=""
  for i in $(seq "$2" "$3"); do
    records+="{\"key\":\"k$i\",\"value\":{\"n\":$i},\"headers\":{\"eventType\":\"create\"}},"
  done
  MF_URL=${NODE_URLS[$1]}
  http POST /topics/ehealth-careplan/records "{\"records\":[${records%,}]}"
  expect_status 200
}
# received SUB: "n count" per event posted for subscription SUB, by n.
received() {
  jq -r --arg s "$1" 'select(.headers["X-Medflow-Subscription"] == $s) | .body | fromjson | .n' \
    "$E2E_TMP/hooks.log" | sort -n | uniq -c | awk '{print $2, $1}'
}
# all_once SUB FROM TO: every event FROM..TO arrived for SUB, each once, and no other.
got_all() { [ "$(received "$1" | awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b' | wc -l)" -eq $(($3 - $2 + 1)) ]; }
all_once() {
  wait_until 30 got_all "$1" "$2" "$3" || fail "subscription $1: events $2..$3 did not all arrive: $(received "$1" | tr '\n' ' ')"
  sleep 1  # a second posting (by the other node) would show up by now
  local twice
  twice=$(received "$1" | awk '$2 != 1' | tr '\n' ' ')
  [ -z "$twice" ] || fail "subscription $1: events posted more than once (n count): $twice"
}

step "two nodes, one webhook subscription: each event posted once"
start_node 1 "${NODE_ARGS[@]}"
start_node 2 "${NODE_ARGS[@]}"
MF_URL=${NODE_URLS[1]}
http POST /subscriptions "{\"topic\":\"ehealth-careplan\",\"delivery\":{\"mode\":\"webhook\",\"url\":\"$HOOK/a\"}}"
expect_status 201
SUB_A=$(printf '%s' "$BODY" | jq -r .id)
append 1 1 20
append 2 21 40
all_once "$SUB_A" 1 40
lease_pair subscriptions.webhooks
echo "webhooks posted by node $holder"

step "a webhook subscription created through the node that does not post"
MF_URL=${NODE_URLS[$other]}
http POST /subscriptions "{\"topic\":\"ehealth-careplan\",\"delivery\":{\"mode\":\"webhook\",\"url\":\"$HOOK/b\"}}"
expect_status 201
SUB_B=$(printf '%s' "$BODY" | jq -r .id)
sleep 1  # the holder starts its actor within store.lease_ms / 3
append "$other" 41 50
all_once "$SUB_A" 1 50
all_once "$SUB_B" 41 50

step "kill -9 the node that posts: the other one takes the webhooks over"
kill -9 "${NODE_PIDS[$holder]}"
wait "${NODE_PIDS[$holder]}" 2>/dev/null || true
append "$other" 51 60
all_once "$SUB_A" 1 60
all_once "$SUB_B" 41 60
expect_eq "$(lease_node subscriptions.webhooks)" "$other" "the lease's holder after the kill"

step "SIGTERM the node that posts: it exits 0 and gives the lease up at once; a new node posts"
start_node 3 "${NODE_ARGS[@]}"
sleep 1  # node 3 runs the subscriptions' actors (paused: not its lease)
kill -TERM "${NODE_PIDS[$other]}"
gone() { ! kill -0 "${NODE_PIDS[$other]}" 2>/dev/null; }
wait_until 15 gone || fail "node $other did not stop within 15 s after SIGTERM"
rc_stop=0
wait "${NODE_PIDS[$other]}" || rc_stop=$?
expect_eq "$rc_stop" 0 "node $other's exit status after SIGTERM"
# Released, not left to expire: no longer this node's the moment it exited.
[ "$(lease_node subscriptions.webhooks)" != "$other" ] || fail "node $other still holds the lease after a clean stop"
append 3 61 70
all_once "$SUB_A" 1 70
all_once "$SUB_B" 41 70
expect_eq "$(lease_node subscriptions.webhooks)" 3 "the lease's holder after the clean stop"

echo "subscriptions_two_nodes_postgres: each event posted once by the lease's holder, taken over after kill -9 and after a clean stop"
