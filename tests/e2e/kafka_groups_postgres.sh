#!/usr/bin/env bash
# Issue 18's "must be shown": three medflowd on ONE PostgreSQL and the Kafka mock cluster share
# the 8 partitions of medical_events (consumer group, cooperative-sticky). Medical-events load
# goes to all three at once; a node (not the one relaying the outbox) is killed -9 mid-load and
# a fourth node starts on its port (its load generator carries on there). At the end: every
# accepted job finished exactly once (one resource change per processed job, none for a failed
# one), each patient's episode is its jobs applied in order (the crash test's check, in SQL on
# the shared store), each job's record is in Kafka once (one relay for the shared outbox), and
# the live nodes own every partition between them. Skipped (77) without PostgreSQL.
# Sizes: GROUPS_PATIENTS per node (default 40), GROUPS_UPDATES (default 20).
E2E_STORE=postgres
source "$(dirname "$0")/lib.sh"
# On a failure: what each node heard from the group.
CLEANUP_HOOKS+=('[ -f "$E2E_TMP/node1.err" ] && grep -H -E "assigned|revoked|lost|not released|generation" "$E2E_TMP"/node*.err | tail -n 60 >&2')
patients=${GROUPS_PATIENTS:-40}
updates=${GROUPS_UPDATES:-20}

start_kafka_mock "${ME_TOPICS[@]}"
step "three nodes on one PostgreSQL split the partitions"
# One deployment on one store: the nodes share its keys (the exams flow refuses a store sealed
# under another key, and each node's data directory would otherwise get its own generated one).
NODE_ARGS=(--kafka-brokers "$KAFKA_BROKERS" --set exams.crypto_key="$(printf 'a%.0s' $(seq 64))"
           --set exams.jwt_key=e2e-exam-token-key --set exams.result_token_key=e2e-result-token-key)
start_node 1 "${NODE_ARGS[@]}"
start_node 2 "${NODE_ARGS[@]}"
start_node 3 "${NODE_ARGS[@]}"
settled3() {
  local a; a="$(owned 1) $(owned 2) $(owned 3)"
  owns_all 1 2 3 && sleep 1 && [ "$(owned 1) $(owned 2) $(owned 3)" = "$a" ]
}
wait_until 60 settled3 || fail "not split: $(owned 1) / $(owned 2) / $(owned 3)"
echo "owned: node1 $(owned 1), node2 $(owned 2), node3 $(owned 3)"
"$TOOLS_DIR/me_load" setup "${NODE_URLS[1]}" $((3 * patients))

step "load on all three: $((3 * patients)) patients x (1 create + $updates updates)"
LOADS=()
for n in 1 2 3; do
  ME_LOAD_FIRST=$(((n - 1) * patients)) "$TOOLS_DIR/me_load" run "${NODE_URLS[$n]}" "$patients" \
    "$updates" "$E2E_TMP/journal$n" 4 &
  LOADS+=($!)
  BG_PIDS+=($!)
done
wait_until 60 bash -c "[ \$(cat $E2E_TMP/journal* 2>/dev/null | wc -l) -ge $((patients * updates / 2)) ]" \
  || fail "the load did not get going"

# The outbox relay runs on the node holding the store lease "bus.outbox" (one relay at a time):
# the node killed is another one, so that every outbox row reaches Kafka exactly once (the
# normal case; a relay killed mid-round sends its last batch again, at least once).
# (A holder is named after its host and data directory.)
relay=$(pg_query "SELECT holder FROM store_leases WHERE name = 'bus.outbox'" | sed -n 's|.*/data\([0-9]*\)$|\1|p')
[ -n "$relay" ] || fail "no node holds the outbox relay's lease"
victim=2
[ "$relay" != 2 ] || victim=3
step "kill -9 node $victim mid-load ($(cat "$E2E_TMP"/journal* | wc -l) answers so far; node $relay relays), start node 4 on its port"
port=${NODE_URLS[$victim]##*:}
kill -9 "${NODE_PIDS[$victim]}"
wait "${NODE_PIDS[$victim]}" 2>/dev/null || true
sleep 0.5
start_node 4 "${NODE_ARGS[@]}" --port "$port"
for l in "${LOADS[@]}"; do wait "$l" || fail "a load generator failed"; done
live=(1 2 3 4)
unset "live[$((victim - 1))]"
live=("${live[@]}")

step "every accepted job finished exactly once, in order per patient"
cat "$E2E_TMP"/journal1 "$E2E_TMP"/journal2 "$E2E_TMP"/journal3 >"$E2E_TMP/journal"
accepted=$(wc -l <"$E2E_TMP/journal")
expect_eq "$accepted" $((3 * patients * (updates + 1))) "accepted jobs"
sql() {
  "$MEDFLOW_PG_BIN/psql" -qAt -v ON_ERROR_STOP=1 "$(cat "$E2E_TMP/pg.url")" \
    -c "CREATE TEMP TABLE journal (patient TEXT, k INTEGER, job TEXT)" \
    -c "\\copy journal FROM '$E2E_TMP/journal' WITH (DELIMITER ' ')" -c "$1" | tail -n1
}
pending() { [ "$(sql "SELECT count(*) FROM journal j JOIN me_jobs m ON m.id = j.job WHERE m.status = 0")" = 0 ]; }
wait_until 90 pending || fail "jobs still pending: $(sql "SELECT count(*) FROM journal j JOIN me_jobs m ON m.id = j.job WHERE m.status = 0")"
expect_eq "$(sql "SELECT count(*) FROM journal j LEFT JOIN me_jobs m ON m.id = j.job WHERE m.id IS NULL")" 0 \
  "accepted jobs that are gone"
expect_eq "$(sql "SELECT count(*) FROM journal j JOIN me_jobs m ON m.id = j.job
  LEFT JOIN (SELECT job_id, count(*) AS n FROM me_resource_changes GROUP BY job_id) c ON c.job_id = j.job
  WHERE (m.status = 1 AND coalesce(c.n, 0) <> 1) OR (m.status <> 1 AND coalesce(c.n, 0) <> 0)")" 0 \
  "jobs applied other than once"
# Every journaled job processed, but for one case: the killed node accepted a patient's create
# and died before answering, me_load asked again on node 4, and that second create found the
# episode made by the first (422, "already exists"; the first is processed, unjournaled).
not_processed="FROM journal j JOIN me_jobs m ON m.id = j.job WHERE m.status <> 1 AND NOT (j.k = 0
  AND m.status_code = 422 AND EXISTS (SELECT 1 FROM me_jobs o WHERE o.patient_id = m.patient_id
  AND o.type = m.type AND o.status = 1 AND NOT EXISTS (SELECT 1 FROM journal x WHERE x.job = o.id)))"
expect_eq "$(sql "SELECT count(*) $not_processed")" 0 \
  "jobs not processed (status, code, response: $(sql "SELECT string_agg(j.patient || ' ' || j.k || ': ' ||
  m.status || ' ' || coalesce(m.status_code, 0) || ' ' || coalesce(m.response, ''), '; ') $not_processed"))"
expect_eq "$(sql "SELECT count(*) FROM (SELECT patient, max(k) AS k FROM journal GROUP BY patient) l
  LEFT JOIN me_entities e ON e.kind = 'episode' AND e.patient_id = l.patient
  WHERE e.doc IS NULL OR e.doc::jsonb->>'name' <> 'name ' || l.k OR e.doc::jsonb->>'status' <> 'active'")" 0 \
  "patients whose episode is not their last update"
echo "$accepted jobs, each processed once; $(sql "SELECT count(*) FROM me_resource_changes") resource changes"

step "each job's record reached Kafka once: one relay forwarded the shared outbox"
# The relay forwards the last jobs' rows (events, statuses) within its poll: wait for it.
wait_outbox_relayed 30
in_topic=$(kcat -C -b "$KAFKA_BROKERS" -t medical_events -o beginning -e -q -f 'x\n' | wc -l)
# One record per job in the store: the answered ones, and any the killed node accepted without
# its answer reaching the client (which then asked again on node 4).
jobs=$(pg_query "SELECT count(*) FROM me_jobs")
expect_eq "$in_topic" "$jobs" "records in medical_events (one per job)"
echo "$in_topic records in medical_events for $jobs jobs"

step "no partition unowned: the live nodes own all 8 between them, and the group is settled"
owned_live() { local n; for n in "${live[@]}"; do printf 'node%s %s ' "$n" "$(owned "$n")"; done; }
settled() {
  local a; a=$(owned_live)
  owns_all "${live[@]}" && sleep 1 && [ "$(owned_live)" = "$a" ] && owns_all "${live[@]}"
}
wait_until 60 settled || fail "partitions unowned: $(owned_live)"
echo "owned: $(owned_live)"

step "a subscription created through one node is served by another (the shared store)"
sub=$(curl -s -XPOST "${NODE_URLS[1]}/subscriptions" \
  -d '{"topic":"ehealth-episodeofcare","selector":"eventType = '\''created'\''"}' | jq -r .id)
[ -n "$sub" ] && [ "$sub" != null ] || fail "subscription not created"
# It reads from its creation on: one matching record and one that does not match, then a long
# poll on node 3.
curl -sf -XPOST "${NODE_URLS[4]}/topics/ehealth-episodeofcare/records" -d '{"records":[
  {"key":"x","value":{"n":1},"headers":{"eventType":"updated"}},
  {"key":"x","value":{"n":2},"headers":{"eventType":"created"}}]}' >/dev/null || fail "append"
code=$(curl -s -o "$E2E_TMP/pull.json" -w '%{http_code}' \
  "${NODE_URLS[3]}/subscriptions/$sub/events?max=5&wait_ms=10000")
expect_eq "$code" 200 "pull on node 3 of a subscription created through node 1"
expect_eq "$(jq -c '[.events[].body.n]' "$E2E_TMP/pull.json")" "[2]" "events pulled on node 3"
hook=$(curl -s -XPOST "${NODE_URLS[1]}/subscriptions" \
  -d '{"topic":"ehealth-episodeofcare","delivery":{"mode":"webhook","url":"http://127.0.0.1:9/x"}}' | jq -r .id)
code=$(curl -s -o /dev/null -w '%{http_code}' "${NODE_URLS[3]}/subscriptions/$hook/events")
expect_eq "$code" 409 "pull on node 3 of a webhook subscription created through node 1"
echo "PASS $TEST_NAME"
