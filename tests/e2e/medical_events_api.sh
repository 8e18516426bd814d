#!/usr/bin/env bash
# The medical events API end to end on the embedded default: consumer headers, synchronous
# checks (no job), async jobs and their views (202, 200, 303 without Location as eHealth's, with
# one under medical_events.job_location), per-patient order, reads, registries; then with every
# job queued on the topic (medical_events.inline_jobs=false): 202 pending, the consumer, and a
# message that cannot be decoded (dead-lettered; the patient goes on).
source "$(dirname "$0")/lib.sh"

start_medflowd
U=user-1
LE=11111111-1111-4111-8111-111111111111
DOC=22222222-2222-4222-8222-222222222222
P1=33333333-3333-4333-8333-333333333333
P2=44444444-4444-4444-8444-444444444444
EP=55555555-5555-4555-8555-555555555555
HDRS=(-H "x-consumer-id: $U" -H "x-consumer-metadata: {\"client_id\":\"$LE\"}")


step "registries: legal entity, doctor, active and inactive persons"
http PUT "/admin/legal_entities/$LE" '{"status":"ACTIVE","name":"Clinic"}'; expect_status 200
http PUT "/admin/employees/$DOC" "{\"legal_entity_id\":\"$LE\",\"employee_type\":\"DOCTOR\",\"status\":\"APPROVED\",\"user_id\":\"$U\",\"tax_id\":\"1234567890\"}"
expect_status 200
http PUT "/admin/persons/$P1" '{"status":"active","authentication_methods":[{"type":"OTP","phone_number":"+380930000001"}]}'; expect_status 200
http PUT "/admin/persons/$P2" '{"status":"inactive"}'; expect_status 200
http GET "/admin/employees/$DOC"; expect_status 200; expect_json .employee_type DOCTOR
http PUT "/admin/persons/x" '{"status":"sleeping"}'; expect_status 400
http GET "/admin/persons/nobody"; expect_status 404

episode() {
  cat <<JSON
{"id":"$1","type":{"system":"eHealth/episode_types","code":"primary_care"},"status":"active",
 "name":"Diabetes","managing_organization":{"identifier":{"type":{"coding":[{"system":"eHealth/resources","code":"legal_entity"}]},"value":"$LE"}},
 "period":{"start":"$(date -u +%Y-%m-%d)"},
 "care_manager":{"identifier":{"type":{"coding":[{"system":"eHealth/resources","code":"employee"}]},"value":"$DOC"}}}
JSON
}

step "consumer headers are required"
http POST "/api/patients/$P1/episodes" "$(episode $EP)"
expect_status 401; expect_json .error.type access_denied; expect_json .error.message "Missing header x-consumer-id"
http POST "/api/patients/$P1/episodes" "$(episode $EP)" -H "x-consumer-id: $U"
expect_status 401; expect_json .error.message "Missing header x-consumer-metadata"

step "synchronous checks answer at once and create no job"
api POST "/api/patients/99999999-9999-4999-8999-999999999999/episodes" "$(episode $EP)"
expect_status 404; expect_json .error.type not_found
api POST "/api/patients/$P2/episodes" "$(episode $EP)"
expect_status 409; expect_json .error.message "Person is not active"
api POST "/api/patients/$P1/episodes" '{"id":"not-a-uuid"}'
expect_status 422; expect_json .error.type validation_failed
expect_json '[.error.invalid[].entry] | index("$.id") != null' true
api POST "/api/patients/$P1/episodes" '{"id":'
expect_status 400
expect_json .meta.code 400

step "episode create: 202, processed as it was accepted (nothing of the patient waits), then 303"
api POST "/api/patients/$P1/episodes" "$(episode $EP)"
expect_status 202; expect_json .data.status processed
expect_json '.data.links[0].entity' job
job=$(job_of)
wait_job "$job"
expect_status 303; expect_json .data.status processed; expect_json .data.status_code 200
expect_json '.data.links[0].href' "/api/patients/$P1/episodes/$EP"
# As eHealth: no Location (medical_events.job_location=false), so a client that follows
# redirects still sees the job.
heads=$(curl -s -D - -o /dev/null "${HDRS[@]}" "$MF_URL/api/jobs/$job" | tr -d '\r')
grep -q '^HTTP/1.1 303' <<<"$heads" || fail "no 303: $heads"
! grep -qi '^Location:' <<<"$heads" || fail "a 303 with a Location by default: $heads"
http GET "/jobs/$job" "" "${HDRS[@]}"; expect_status 303
api GET "/api/patients/$P1/episodes/$EP"; expect_status 200
expect_json .data.status active; expect_json .data.name Diabetes
api GET "/api/patients/$P1/episodes"; expect_status 200
expect_json '.paging.total_entries' 1; expect_json '.data[0].id' "$EP"
api GET "/api/jobs/000000000000000000000000"; expect_status 404
api GET "/api/nothing/here"; expect_status 404; expect_json .error.type not_found; expect_json .meta.code 404
api DELETE "/api/jobs/000000000000000000000000"; expect_status 405; expect_json .error.type method_not_allowed

step "the same episode again fails asynchronously with 422 (already exists)"
api POST "/api/patients/$P1/episodes" "$(episode $EP)"; expect_status 202
job=$(job_of)
wait_job "$job"
expect_status 200; expect_json .data.status failed; expect_json .data.status_code 422

step "per-patient order: update, close, update -> processed, processed, 409"
upd() { api PATCH "/api/patients/$P1/episodes/$EP" "{\"name\":\"$1\"}"; expect_status 202; job_of; }
j1=$(upd "Renamed")
api PATCH "/api/patients/$P1/episodes/$EP/actions/close" \
  "{\"period\":{\"end\":\"$(date -u +%Y-%m-%d)\"},\"status_reason\":{\"coding\":[{\"system\":\"eHealth/episode_closing_reasons\",\"code\":\"legal_entity\"}]},\"closing_summary\":\"done\"}"
expect_status 202
j2=$(job_of)
j3=$(upd "Too late")
wait_job "$j1"; expect_json .data.status processed
wait_job "$j2"; expect_json .data.status processed
wait_job "$j3"; expect_json .data.status failed; expect_json .data.status_code 409
expect_json .data.error.type request_conflict
expect_json .data.error.message "Episode in status closed can not be updated"
api GET "/api/patients/$P1/episodes/$EP"; expect_json .data.status closed; expect_json .data.name Renamed

step "person_events feed the registry"
http POST /topics/person_events/records "{\"records\":[{\"key\":\"$P2\",\"value\":{\"id\":\"$P2\",\"status\":\"active\"}}]}"
expect_status 200
wait_until 10 bash -c "curl -s $MF_URL/admin/persons/$P2 | jq -e '.status == \"active\"' >/dev/null" \
  || fail "person_events did not activate $P2"

step "metrics and readiness"
http GET /metrics
grep -q 'medflow_me_jobs_finished_total{type="episode_create_job",status="processed"}' <<<"$BODY" || fail "no job metrics"
http GET /readyz; expect_status 200
stop_medflowd

step "every job queued on the topic: 202 pending, then processed by the consumer"
start_medflowd --set medical_events.inline_jobs=false
EP3=77777777-7777-4777-8777-777777777777
api POST "/api/patients/$P1/episodes" "$(episode $EP3)"
expect_status 202; expect_json .data.status pending
job=$(job_of)
wait_job "$job"; expect_status 303; expect_json .data.status processed

step "a message that cannot be decoded is dead-lettered; the patient's next job still runs"
http POST /topics/medical_events/records "{\"records\":[{\"key\":\"$P1\",\"value\":\"garbage\"}]}"
expect_status 200
EP2=66666666-6666-4666-8666-666666666666
api POST "/api/patients/$P1/episodes" "$(episode $EP2)"; expect_status 202
expect_json .data.status pending
job=$(job_of)
wait_job "$job"; expect_json .data.status processed
http GET "/topics/medical_events.dead_letter/partitions/0/records?offset=0&max=10"; expect_status 200
expect_json '.records[0].value' garbage
expect_json '.records[0].headers.dead_letter_reason | startswith("cannot decode the job message")' true
stop_medflowd

step "medical_events.job_location=true: the 303 carries a Location to the result"
start_medflowd --set medical_events.job_location=true
api GET "/api/jobs/$job"; expect_status 303
loc=$(curl -s -D - -o /dev/null "${HDRS[@]}" "$MF_URL/api/jobs/$job" | tr -d '\r' | sed -n 's/^Location: //Ip')
expect_eq "$loc" "/api/patients/$P1/episodes/$EP2" "Location of the processed job"
stop_medflowd
echo "PASS $TEST_NAME"
