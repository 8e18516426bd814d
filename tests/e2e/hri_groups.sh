#!/usr/bin/env bash
# HRI batches across instances (issue 18; README "HRI batches across instances"): three medflowd
# on ONE PostgreSQL and the Kafka mock cluster share a stream whose .in has 8 partitions (group
# hri-validation) and the internal topic hri.batch_records (group hri-batches). One batch's
# records (HRI_GROUPS_RECORDS, default 3000, every 10th invalid) are spread over every
# partition of .in, so every instance judges some; sendComplete goes through an instance that
# does NOT own the batch; the batch's owner is killed -9 mid-batch and a fourth node starts. At
# the end the batch completed exactly once with the right counts, .out holds every valid record
# (at least once) and no invalid one, and the notification topic shows exactly one completed.
# Skipped (77) without PostgreSQL.
E2E_STORE=postgres
source "$(dirname "$0")/lib.sh"
command -v kcat >/dev/null || fail "kcat is not installed (scripts/setup.sh installs it)"
# On a failure: what each node heard from the groups, and what the HRI side said.
CLEANUP_HOOKS+=('[ -f "$E2E_TMP/node1.err" ] && grep -H -E "assigned|revoked|lost|not released|generation|hri" "$E2E_TMP"/node*.err | tail -n 60 >&2')
records=${HRI_GROUPS_RECORDS:-3000}
invalid=$(((records + 9) / 10))  # records 0, 10, 20, ... are not FHIR bundles
valid=$((records - invalid))

start_kafka_mock "${ME_TOPICS[@]}" ingest.t1.s1.in:8 ingest.t1.s1.notification:1 \
  ingest.t1.s1.out:8 ingest.t1.s1.invalid:1
B="$KAFKA_BROKERS"
NODE_ARGS=(--kafka-brokers "$B" --set hri.auth.disabled=true --set hri.adopt_existing_topics=true
           --set hri.completion_delay_ms=2000 --set medical_events.enabled=false
           --set exams.enabled=false --set aggregation.enabled=false
           --set bus.kafka.session_timeout_ms=20000 --set hri.streams_refresh_ms=1000)

step "three nodes; tenant, stream (8 partitions of .in) and batch created through node 1"
start_node 1 "${NODE_ARGS[@]}"
start_node 2 "${NODE_ARGS[@]}"
start_node 3 "${NODE_ARGS[@]}"
MF_URL=${NODE_URLS[1]}
http POST /hri/tenants/t1; expect_status 201
# Created after nodes 2 and 3 started: they find the stream in the shared store
# (hri.streams_refresh_ms) and join its group, as the split below shows.
http POST /hri/tenants/t1/streams/s1 '{"numPartitions":8,"retentionMs":3600000,"validator":"fhir"}'
expect_status 201
http POST /hri/tenants/t1/batches '{"name":"spread","topic":"ingest.t1.s1.in","dataType":"claims"}'
expect_status 201
b=$(printf '%s' "$BODY" | jq -r .id)
# split N... TOPIC: the nodes own the topic's 8 partitions between them, each some, and the
# split holds for a second (the group has settled).
split_once() {
  local topic=$1 total=0 n got
  shift
  for n in "$@"; do
    got=$(owned_topic "$n" "$topic")
    [ -n "$got" ] && [ "$got" -gt 0 ] || return 1
    total=$((total + got))
  done
  [ "$total" -eq 8 ]
}
shares() { local n s=""; for n in "$@"; do s+="$(owned_topic "$n" ingest.t1.s1.in)/$(owned_topic "$n" hri.batch_records) "; done; echo "$s"; }
settled() {
  local before; before=$(shares "$@")
  split_once ingest.t1.s1.in "$@" && split_once hri.batch_records "$@" && sleep 1 &&
    [ "$(shares "$@")" = "$before" ]
}
wait_until 90 settled 1 2 3 || fail "not split (.in/batch_records per node): $(shares 1 2 3)"
echo "owned (.in/hri.batch_records): $(shares 1 2 3)"

# produce FROM TO: records FROM..TO-1 of the batch, keys r<i> (spread over the partitions by
# murmur2), every 10th one not a FHIR bundle.
produce() {
  local i
  for ((i = $1; i < $2; i++)); do
    if ((i % 10 == 0)); then
      printf 'r%s:not a bundle %s\n' "$i" "$i"
    else
      printf 'r%s:{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"p%s"}}]}\n' "$i" "$i"
    fi
  done | kcat -P -b "$B" -t ingest.t1.s1.in -K: -H "batchId=$b"
}
out_keys() {
  kcat -C -b "$B" -t ingest.t1.s1.out -o beginning -e -q -f '%k|%h\n' | grep "batchId=$b\(,\|$\)" | cut -d'|' -f1
}
half=$((records / 2))
step "the first $half records, spread over the 8 partitions of .in"
produce 0 "$half"
some_out() { [ "$(out_keys | sort -u | wc -l)" -ge $((half / 4)) ]; }
wait_until 60 some_out || fail "records of the first half do not reach .out: $(out_keys | sort -u | wc -l)"
judged_by_all() {
  local n c
  for n in 1 2 3; do
    c=$(curl -s "${NODE_URLS[$n]}/metrics" | sed -n 's/^medflow_hri_batch_entries_total \([0-9]*\).*/\1/p')
    [ -n "$c" ] && [ "$c" -gt 0 ] || return 1
  done
}
wait_until 30 judged_by_all || fail "not every node judged records of .in"

# The batch's owner is the node running its actor.
owner=""
find_owner() {
  local n a
  for n in 1 2 3; do
    a=$(curl -s "${NODE_URLS[$n]}/metrics" | sed -n 's/^medflow_hri_batch_actors \([0-9]*\).*/\1/p')
    if [ "${a:-0}" -gt 0 ]; then owner=$n; return 0; fi
  done
  return 1
}
wait_until 10 find_owner || fail "no node runs the batch's actor"
other=$((owner % 3 + 1))
echo "batch $b: owner node $owner; sendComplete through node $other"
step "sendComplete ($records records expected) through node $other, which does not own the batch"
MF_URL=${NODE_URLS[$other]}
http PUT "/hri/tenants/t1/batches/$b/action/sendComplete" "{\"expectedRecordCount\":$records}"
expect_status 200
http GET "/hri/tenants/t1/batches/$b"; expect_json .status sendCompleted
# An action the status machine refuses comes back from the owner as it was decided.
http PUT "/hri/tenants/t1/batches/$b/action/sendComplete" "{\"expectedRecordCount\":$records}"
expect_status 409

step "kill -9 the owner (node $owner) mid-batch, start node 4, the other $((records - half)) records"
kill -9 "${NODE_PIDS[$owner]}"
wait "${NODE_PIDS[$owner]}" 2>/dev/null || true
start_node 4 "${NODE_ARGS[@]}"
live=()
for n in 1 2 3 4; do [ "$n" = "$owner" ] || live+=("$n"); done
produce "$half" "$records"

step "the batch completes, once, with the right counts"
MF_URL=${NODE_URLS[$other]}
completed() { [ "$(curl -s "$MF_URL/hri/tenants/t1/batches/$b" | jq -r .status)" = completed ]; }
wait_until 180 completed || fail "batch not completed: $(curl -s "$MF_URL/hri/tenants/t1/batches/$b")"
http GET "/hri/tenants/t1/batches/$b"
expect_json .expectedRecordCount "$records"
expect_json .actualRecordCount "$records"
expect_json .invalidRecordCount "$invalid"

step "the outbox relayed (the relay's lease moves to a live node if the killed one held it)"
# The forwards are committed with the batch's counts; a relay sends them. When the node killed
# held the relay's lease, another takes it over after store.lease_ms (10 s).
wait_outbox_relayed 60

step ".out: every valid record at least once, no invalid one"
out_keys | sort -u >"$E2E_TMP/out_keys"
for ((i = 0; i < records; i++)); do ((i % 10 == 0)) || echo "r$i"; done | sort >"$E2E_TMP/valid_keys"
missing=$(comm -23 "$E2E_TMP/valid_keys" "$E2E_TMP/out_keys" | wc -l)
extra=$(comm -13 "$E2E_TMP/valid_keys" "$E2E_TMP/out_keys" | wc -l)
expect_eq "$missing" 0 "valid records missing from .out"
expect_eq "$extra" 0 "records on .out that are not valid records of the batch"
echo "$(out_keys | wc -l) records on .out for $valid valid ones"
kcat -C -b "$B" -t ingest.t1.s1.invalid -o beginning -e -q -f '%s\n' |
  jq -r "select(.batchId==\"$b\") | \"\(.partition)/\(.offset)\"" | sort -u >"$E2E_TMP/invalid_pos"
expect_eq "$(wc -l <"$E2E_TMP/invalid_pos")" "$invalid" "distinct invalid records on .invalid"

step "the notification topic: exactly one completed"
kcat -C -b "$B" -t ingest.t1.s1.notification -o beginning -e -q -f '%k %s\n' >"$E2E_TMP/notes"
awk -v b="$b" '$1==b {print $2}' "$E2E_TMP/notes" | jq -r .status >"$E2E_TMP/statuses"
expect_eq "$(grep -c '^completed$' "$E2E_TMP/statuses")" 1 "completed notifications"
expect_eq "$(grep -c -v -E '^(started|sendCompleted|completed)$' "$E2E_TMP/statuses")" 0 \
  "other notifications ($(paste -sd, "$E2E_TMP/statuses"))"
jq -r "select(.id==\"$b\" and .status==\"completed\") | \"\(.actualRecordCount) \(.invalidRecordCount)\"" \
  < <(awk -v b="$b" '$1==b {$1=""; print}' "$E2E_TMP/notes") >"$E2E_TMP/completed_counts"
expect_eq "$(cat "$E2E_TMP/completed_counts")" "$records $invalid" "counts in the completed notification"

step "the live nodes own every partition of both topics between them"
wait_until 90 settled "${live[@]}" || fail "not split at the end (.in/batch_records): $(shares "${live[@]}")"
echo "owned at the end (.in/hri.batch_records) by nodes ${live[*]}: $(shares "${live[@]}")"
echo "PASS $TEST_NAME"
