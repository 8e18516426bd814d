#!/usr/bin/env bash
# The medical events flow unchanged on the Kafka backend (librdkafka's mock cluster): jobs go
# through the outbox relay to Kafka, the partition consumers read them back, and kcat, as an
# outside client, sees the job messages as plain JSON keyed by patient and the dead letters.
# E2E_STORE=postgres (ctest: e2e_medical_events_kafka_postgres): the store on PostgreSQL.
source "$(dirname "$0")/lib.sh"

start_kafka_mock "${ME_TOPICS[@]}"
# Every job through the topic (a job is otherwise processed as it is accepted when nothing of
# its patient waits, and never reaches Kafka): the Kafka path is what this test is about.
start_medflowd --kafka-brokers "$KAFKA_BROKERS" --set medical_events.inline_jobs=false
episode_fixture

http GET /readyz; expect_status 200
registries

step "an episode job travels through Kafka and is processed"
api POST "/api/patients/$P1/episodes" "$EPISODE"
expect_status 202
create=$(job_of)
wait_job "$create" 30; expect_status 303

step "per-patient order on Kafka: update, close, update"
api PATCH "/api/patients/$P1/episodes/$EP" '{"name":"Renamed"}'; j1=$(job_of)
api PATCH "/api/patients/$P1/episodes/$EP/actions/close" "$CLOSE"
j2=$(job_of)
api PATCH "/api/patients/$P1/episodes/$EP" '{"name":"Too late"}'; j3=$(job_of)
wait_job "$j1" 30; expect_json .data.status processed
wait_job "$j2" 30; expect_json .data.status processed
wait_job "$j3" 30; expect_json .data.status_code 409

step "kcat sees the job messages as JSON keyed by patient"
part=$(kcat -L -b "$KAFKA_BROKERS" -t medical_events -J | jq '.topics[0].partitions | length')
expect_eq "$part" 8 "partitions of medical_events"
kcat -C -b "$KAFKA_BROKERS" -t medical_events -o beginning -e -q -f '%k %s\n' >"$E2E_TMP/jobs.out"
expect_eq "$(grep -c "^$P1 " "$E2E_TMP/jobs.out")" 4 "job messages of the patient"
grep "^$P1 " "$E2E_TMP/jobs.out" | head -n1 | cut -d' ' -f2- | jq -e ".id == \"$create\" and .type == \"episode_create_job\"" >/dev/null \
  || fail "the first message is not the create job: $(head -n1 "$E2E_TMP/jobs.out")"

step "a message kcat writes that is not a job is dead-lettered"
printf '%s:not json\n' "$P1" | kcat -P -b "$KAFKA_BROKERS" -t medical_events -K: -X partitioner=murmur2_random
wait_until 30 bash -c "kcat -C -b $KAFKA_BROKERS -t medical_events.dead_letter -o beginning -e -q -f '%s|%h\n' | grep -q '^not json|.*dead_letter_reason=cannot decode'" \
  || fail "no dead letter for the bad message"

step "SIGTERM right after a processed job (its key worker still alive) stops medflowd"
P2=44444444-4444-4444-8444-444444444444
http PUT "/admin/persons/$P2" '{"status":"active"}'; expect_status 200
api POST "/api/patients/$P2/episodes" "{\"id\":\"66666666-6666-4666-8666-666666666666\",\"type\":{\"system\":\"eHealth/episode_types\",\"code\":\"primary_care\"},\"status\":\"active\",\"name\":\"Cough\",\"managing_organization\":{\"identifier\":{\"type\":{\"coding\":[{\"system\":\"eHealth/resources\",\"code\":\"legal_entity\"}]},\"value\":\"$LE\"}},\"period\":{\"start\":\"$today\"},\"care_manager\":{\"identifier\":{\"type\":{\"coding\":[{\"system\":\"eHealth/resources\",\"code\":\"employee\"}]},\"value\":\"$DOC\"}}}"
expect_status 202
last=$(job_of)
wait_job "$last" 30; expect_status 303
STOP_LIMIT=5 stop_medflowd
if [ "${E2E_STORE:-sqlite}" = postgres ]; then
  step "the PostgreSQL URL (its password) appears in no output of medflowd"
  ! grep -q "$PG_SECRET" "$E2E_TMP/medflowd.out" "$E2E_TMP/medflowd.err" || fail "the URL was logged"
  expect_eq "$(pg_query "SELECT count(*) FROM me_jobs WHERE status <> 0")" 5 "jobs finished in PostgreSQL"
fi
echo "PASS $TEST_NAME"
