#!/usr/bin/env bash
# Consumer groups on Kafka (librdkafka's mock cluster): several medflowd share the partitions of
# medical_events. Two nodes split the 8 partitions between them; every record is handled once,
# by the owner of its partition; node B is killed -9 and its partitions move to A (after the
# session timeout); a third node C joins and takes a share from A by a cooperative rebalance
# (A drains and commits what it gives up). Each node keeps its own SQLite store here, so the
# records are ones whose handling needs no shared state: messages that are not jobs, which the
# owner dead-letters with their source partition and offset (one dead letter per record, and
# dead-lettering does not mark a record as done: a record handled twice shows up twice).
source "$(dirname "$0")/lib.sh"

start_kafka_mock "${ME_TOPICS[@]}"
B=$KAFKA_BROKERS
NODE_ARGS=(--kafka-brokers "$B" --set bus.kafka.session_timeout_ms=3000)
# On a failure: the nodes' last words.
CLEANUP_HOOKS+=('tail -n 20 "$E2E_TMP"/node*.err >&2 2>/dev/null')

# produce ROUND: one record that is not a job into every partition.
produce() {
  local p
  for p in 0 1 2 3 4 5 6 7; do
    printf 'k%s:round %s not json\n' "$p" "$1" | kcat -P -b "$B" -t medical_events -p "$p" -K:
  done
}

# dead letters as "partition:offset", one line each.
dead_letters() {
  kcat -C -b "$B" -t medical_events.dead_letter -o beginning -e -q -f '%h\n' |
    sed -n 's/.*source_partition=\([0-9]*\).*source_offset=\([0-9]*\).*/\1:\2/p'
}
dead_count() { [ "$(dead_letters | wc -l)" -ge "$1" ]; }

# every_record_once COUNT: COUNT dead letters, none for the same record.
every_record_once() {
  wait_until 40 dead_count "$1" || fail "only $(dead_letters | wc -l) of $1 records were handled"
  sleep 1  # a record handled twice would show up by now
  local all; all=$(dead_letters | sort)
  expect_eq "$(printf '%s\n' "$all" | wc -l)" "$1" "dead letters"
  expect_eq "$(printf '%s\n' "$all" | sort -u | wc -l)" "$1" "distinct records dead-lettered"
}

step "two nodes split the 8 partitions"
start_node 1 "${NODE_ARGS[@]}"
start_node 2 "${NODE_ARGS[@]}"
wait_until 40 owns_all 1 2 || fail "partitions not split: node1=$(owned 1) node2=$(owned 2)"
echo "node1 owns $(owned 1), node2 owns $(owned 2)"

step "each record is handled once, by its partition's owner"
produce 1
every_record_once 8

step "kill -9 node 2: its partitions move to node 1"
sleep 1  # node 2's commits (bus.commit_interval_ms) are done
kill -9 "${NODE_PIDS[2]}"
wait "${NODE_PIDS[2]}" 2>/dev/null || true
wait_until 40 owns_all 1 || fail "node 1 owns $(owned 1) partitions after node 2 died"
[ "$(owned 1)" -eq 8 ] || fail "node 1 owns $(owned 1) partitions"
produce 2
every_record_once 16

step "node 3 joins: a cooperative rebalance gives it a share, nothing handled twice"
start_node 3 "${NODE_ARGS[@]}"
wait_until 40 owns_all 1 3 || fail "partitions not split: node1=$(owned 1) node3=$(owned 3)"
echo "node1 owns $(owned 1), node3 owns $(owned 3)"
produce 3
every_record_once 24

step "SIGTERM node 1: node 3 takes everything"
kill -TERM "${NODE_PIDS[1]}"
wait "${NODE_PIDS[1]}" || fail "node 1 exited with $?"
wait_until 40 owns_all 3 || fail "node 3 owns $(owned 3) partitions"
[ "$(owned 3)" -eq 8 ] || fail "node 3 owns $(owned 3) partitions"
produce 4
every_record_once 32
echo "PASS $TEST_NAME"
