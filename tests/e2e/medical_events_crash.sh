#!/usr/bin/env bash
# kill -9 medflowd at random moments while many patients' jobs are submitted and processed;
# restart it each time. At the end every job that got 202 is processed or failed exactly once
# (one resource change per processed job, none for failed ones) and each patient's episode
# equals applying its accepted jobs serially in order. Sizes: CRASH_PATIENTS, CRASH_UPDATES,
# CRASH_KILLS (a short form by default; scripts/test.sh runs this).
# E2E_STORE=postgres (ctest: e2e_medical_events_crash_postgres): the store on PostgreSQL and
# the bus on Kafka (the mock cluster, which outlives every medflowd of the run).
# E2E_INLINE_JOBS=false (ctest: e2e_medical_events_crash_queued): every job queued on the topic.
source "$(dirname "$0")/lib.sh"
patients=${CRASH_PATIENTS:-100}
updates=${CRASH_UPDATES:-30}
kills=${CRASH_KILLS:-6}
journal="$E2E_TMP/journal"

db="$E2E_TMP/data/medflow.db"
args=(--set medical_events.partitions=4)
if [ "${E2E_STORE:-sqlite}" = postgres ]; then
  start_kafka_mock "${ME_TOPICS[@]}"
  args=(--kafka-brokers "$KAFKA_BROKERS")  # the topics' partitions are the mock cluster's
  db=$(cat "$E2E_TMP/pg.url")
fi
crash_load "$patients" "$updates" "$kills" "$journal" "${args[@]}"
stop_medflowd
"$TOOLS_DIR/me_load" verify "$db" "$journal" || fail "verification failed"
echo "PASS $TEST_NAME"
