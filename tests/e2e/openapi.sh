#!/usr/bin/env bash
# /openapi.json against the daemon that serves it: the routes the router holds are exactly the
# operations of src/http/openapi.json (the served document's paths come from the router's own
# table), operationIds are unique, the version is medflowd's, `spectral lint` with the
# spectral:oas ruleset finds nothing (no error, no warning), and real answers of every flow,
# successes and errors (413 included), validate against their operation's response schemas
# (Ajv).
source "$(dirname "$0")/lib.sh"
: "${MEDFLOW_TOKEN:=$(dirname "$MEDFLOWD")/medflow-token}"
NODE_BIN="$SOURCE_DIR/tests/node_modules/.bin"
[ -x "$NODE_BIN/spectral" ] && [ -d "$SOURCE_DIR/tests/node_modules/ajv" ] ||
  fail "Spectral and Ajv are not installed in tests/node_modules: run scripts/setup.sh"

SECRET=e2e-secret
start_medflowd --set hri.auth.hs256_secret=$SECRET --set aggregation.auth.hs256_secret=$SECRET \
  --set aggregation.services_dir="$SOURCE_DIR/config/aggregation" \
  --set aggregation.tak_file="$SOURCE_DIR/config/aggregation/tak.json" \
  --set exams.result_token_key=e2e-result-key --set events.base_url=http://ehealth.test/fhir

step "the served document: medflowd's version, every route documented, nothing more"
http GET /openapi.json; expect_status 200
printf '%s' "$BODY" >"$E2E_TMP/served.json"
expect_json .info.version "$("$MEDFLOWD" --version | awk '{print $2}')"
undocumented=$(jq -r '.paths | to_entries[] | .key as $p | .value | to_entries[]
  | select(.value.operationId == null) | "\(.key | ascii_upcase) \($p)"' "$E2E_TMP/served.json")
[ -z "$undocumented" ] || fail "routes src/http/openapi.json does not describe:
$undocumented"
ops() { jq -r '.paths | to_entries[] | .key as $p | .value | keys[] | "\(ascii_upcase) \($p)"' "$1" | sort; }
unserved=$(comm -13 <(ops "$E2E_TMP/served.json") <(ops "$SOURCE_DIR/src/http/openapi.json"))
[ -z "$unserved" ] || fail "operations in src/http/openapi.json that medflowd does not serve:
$unserved"
n=$(ops "$E2E_TMP/served.json" | wc -l)
[ "$n" -ge 90 ] || fail "only $n operations served"
dups=$(jq -r '[.paths[][] | .operationId] | group_by(.) | map(select(length > 1) | .[0]) | .[]' "$E2E_TMP/served.json")
[ -z "$dups" ] || fail "operationIds used twice: $dups"
echo "$n operations, each served and documented"

step "spectral lint (spectral:oas): no error, no warning, no hint"
"$NODE_BIN/spectral" lint --ruleset "$SOURCE_DIR/tests/e2e/openapi.spectral.yaml" \
  --fail-severity hint -f json -o "$E2E_TMP/lint.json" "$E2E_TMP/served.json" >/dev/null 2>&1 || true
[ -s "$E2E_TMP/lint.json" ] || fail "spectral wrote no report"
jq -e 'length == 0' "$E2E_TMP/lint.json" >/dev/null ||
  fail "spectral: $(jq -r '.[] | "\(.code) \(.path | join(".")): \(.message)"' "$E2E_TMP/lint.json" | head -n 20)"

# call ROUTE METHOD PATH [BODY] [curl args...]: like `http`, and the answer (status,
# Content-Type, body) is kept for validation against ROUTE's operation.
ANSWERS="$E2E_TMP/answers.jsonl"
call() {
  local route=$1 method=$2 path=$3 body=${4:-}
  shift 4 2>/dev/null || shift $#
  local args=(-s -o "$E2E_TMP/body" -D "$E2E_TMP/headers" -w '%{http_code}' -X "$method" "$MF_URL$path")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  STATUS=$(curl "${args[@]}" "$@")
  BODY=$(cat "$E2E_TMP/body")
  local ct
  ct=$(tr -d '\r' <"$E2E_TMP/headers" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p' | tail -n1)
  jq -nc --arg m "$method" --arg r "$route" --argjson s "$STATUS" --arg ct "$ct" \
    --rawfile b "$E2E_TMP/body" '{method: $m, route: $r, status: $s, content_type: $ct, body: $b}' \
    >>"$ANSWERS"
}

step "operations"
call /healthz GET /healthz; expect_status 200
call /readyz GET /readyz; expect_status 200
call /metrics GET /metrics; expect_status 200

step "topics"
call /topics POST /topics '{"name":"oa.t","partitions":2}'; expect_status 201
call /topics POST /topics '{"name":"oa.t","partitions":2}'; expect_status 200
call /topics POST /topics '{"name":"oa.t","partitions":3}'; expect_status 409
call /topics POST /topics '{"name":"no/slash"}'; expect_status 400
call /topics GET /topics; expect_status 200
call /topics/{topic}/records POST /topics/oa.t/records '{"records":[{"key":"k","value":{"a":1},"headers":{"h":"v"}},{"value":"x","partition":1}]}'
expect_status 200
call /topics/{topic}/records POST /topics/nope/records '{"records":[{"value":1}]}'; expect_status 404
call /topics/{topic}/partitions/{partition}/records GET "/topics/oa.t/partitions/1/records?max=10"
expect_status 200
call /topics/{topic}/partitions/{partition}/records GET "/topics/oa.t/partitions/x/records"
expect_status 400

step "medical events"
episode_fixture
call /admin/legal_entities/{id} PUT "/admin/legal_entities/$LE" '{"status":"ACTIVE"}'; expect_status 200
call /admin/employees/{id} PUT "/admin/employees/$DOC" "{\"legal_entity_id\":\"$LE\",\"employee_type\":\"DOCTOR\",\"status\":\"APPROVED\",\"user_id\":\"$U\"}"
expect_status 200
call /admin/persons/{id} PUT "/admin/persons/$P1" '{"status":"active"}'; expect_status 200
call /admin/persons/{id} PUT "/admin/persons/$P1" '{"status":"asleep"}'; expect_status 400
call /admin/persons/{id} GET "/admin/persons/$P1"; expect_status 200
call /admin/persons/{id} GET /admin/persons/nobody; expect_status 404
call /api/patients/{patient_id}/episodes POST "/api/patients/$P1/episodes" "$EPISODE" "${HDRS[@]}"
expect_status 202
JOB=$(job_of)
call /api/patients/{patient_id}/episodes POST "/api/patients/$P1/episodes" "$EPISODE"; expect_status 401
call /api/patients/{patient_id}/episodes POST "/api/patients/$P1/episodes" '{"id":' "${HDRS[@]}"
expect_status 400
wait_job "$JOB" 30
call /api/jobs/{id} GET "/api/jobs/$JOB" "" "${HDRS[@]}"; expect_status 303
call /jobs/{id} GET "/jobs/$JOB" "" "${HDRS[@]}"; expect_status 303
call /api/jobs/{id} GET /api/jobs/nope "" "${HDRS[@]}"; expect_status 404
call /api/patients/{patient_id}/episodes GET "/api/patients/$P1/episodes?page_size=10" "" "${HDRS[@]}"
expect_status 200
call /api/patients/{patient_id}/episodes GET "/api/patients/$P1/episodes?page=0" "" "${HDRS[@]}"
expect_status 422
call /api/patients/{patient_id}/episodes/{id} GET "/api/patients/$P1/episodes/$EP" "" "${HDRS[@]}"
expect_status 200
call /api/patients/{patient_id}/episodes/{id} GET "/api/patients/$P1/episodes/nope" "" "${HDRS[@]}"
expect_status 404

step "hri (batches)"
tok() { "$MEDFLOW_TOKEN" --secret "$SECRET" "$@"; }
ADMIN=$(tok --sub admin --scope hri_admin)
INTEG=$(tok --sub integ-1 --scope "tenant_t1 hri_data_integrator")
call /hri/healthcheck GET /hri/healthcheck; expect_status 200
call /alive GET /alive; expect_status 200
call /hri/tenants/{tenantId} POST /hri/tenants/t1 "" -H "Authorization: Bearer $ADMIN"; expect_status 201
call /hri/tenants/{tenantId} POST /hri/tenants/t2; expect_status 401
call /hri/tenants GET /hri/tenants "" -H "Authorization: Bearer $ADMIN"; expect_status 200
call /hri/tenants/{tenantId} GET /hri/tenants/t1 "" -H "Authorization: Bearer $ADMIN"; expect_status 200
call /hri/tenants/{tenantId} GET /hri/tenants/t9 "" -H "Authorization: Bearer $ADMIN"; expect_status 404
call /hri/tenants/{tenantId}/streams/{streamId} POST /hri/tenants/t1/streams/s1 \
  '{"numPartitions":1,"retentionMs":86400000}' -H "Authorization: Bearer $ADMIN"
expect_status 201
call /hri/tenants/{tenantId}/streams GET /hri/tenants/t1/streams "" -H "Authorization: Bearer $ADMIN"
expect_status 200
call /hri/tenants/{tenantId}/batches POST /hri/tenants/t1/batches \
  '{"name":"b1","topic":"ingest.t1.s1.in","dataType":"claims","metadata":{"a":1}}' -H "Authorization: Bearer $INTEG"
expect_status 201
BATCH=$(printf '%s' "$BODY" | jq -r .id)
call /hri/tenants/{tenantId}/batches POST /hri/tenants/t1/batches '{"name":"b2"}' -H "Authorization: Bearer $INTEG"
expect_status 400
call /hri/tenants/{tenantId}/batches/{batchId} GET "/hri/tenants/t1/batches/$BATCH" "" -H "Authorization: Bearer $INTEG"
expect_status 200
call /hri/tenants/{tenantId}/batches GET "/hri/tenants/t1/batches?size=5" "" -H "Authorization: Bearer $INTEG"
expect_status 200
call /hri/tenants/{tenantId}/batches/{batchId}/action/sendComplete PUT \
  "/hri/tenants/t1/batches/$BATCH/action/sendComplete" '{"expectedRecordCount":0}' -H "Authorization: Bearer $INTEG"
expect_status 200
call /hri/tenants/{tenantId}/batches/{batchId}/action/terminate PUT \
  "/hri/tenants/t1/batches/$BATCH/action/terminate" '{}' -H "Authorization: Bearer $INTEG"
expect_status 409

step "aggregation"
call /aggregation GET /aggregation; expect_status 200
SERVICE=$(printf '%s' "$BODY" | jq -r '.services[0].name')
[ -n "$SERVICE" ] && [ "$SERVICE" != null ] || fail "no aggregating service configured"
AGG_HDRS=(-H "x-vp-sender-id: sender" -H "x-rivta-original-serviceconsumer-hsaid: original"
  -H "x-skltp-correlation-id: openapi-e2e")
call /aggregation/{service} POST "/aggregation/$SERVICE" '{"patientId":{"id":"191212121212"}}' "${AGG_HDRS[@]}"
expect_status 200
call /aggregation/{service} POST /aggregation/NoSuchService '{"patientId":{"id":"191212121212"}}' "${AGG_HDRS[@]}"
expect_status 404
call /aggregation/engagement-index/find-content POST /aggregation/engagement-index/find-content \
  '{"registeredResidentIdentification":"191212121212","serviceDomain":"riv:clinicalprocess:logistics:logistics"}'
expect_status 200
call /aggregation/engagement-index/find-content POST /aggregation/engagement-index/find-content '{}'
expect_status 400
call /aggregation/engagement-index/update POST /aggregation/engagement-index/update '{"engagementTransaction":[]}'
expect_status 401
AGP=$(tok --sub indexer --scope agp_admin)
call /aggregation/engagement-index/update POST /aggregation/engagement-index/update '{"engagementTransaction":[]}' \
  -H "Authorization: Bearer $AGP"
expect_status 200

step "resource events (subscriptions)"
call /subscriptions POST /subscriptions '{"topic":"ehealth-episode.>","selector":"eventType = '"'"'create'"'"'"}'
expect_status 201
SUB=$(printf '%s' "$BODY" | jq -r .id)
call /subscriptions POST /subscriptions '{"topic":"a","selector":"eventType ="}'; expect_status 400
call /subscriptions GET /subscriptions; expect_status 200
call /subscriptions/{id} GET "/subscriptions/$SUB"; expect_status 200
call /subscriptions/{id} GET /subscriptions/nope; expect_status 404
call /subscriptions/{id}/events GET "/subscriptions/$SUB/events?max=10"; expect_status 200
CURSOR=$(printf '%s' "$BODY" | jq -r .cursor)
call /subscriptions/{id}/events GET "/subscriptions/$SUB/events?max=0"; expect_status 400
call /subscriptions/{id}/ack POST "/subscriptions/$SUB/ack" "{\"cursor\":\"$CURSOR\"}"; expect_status 204
call /subscriptions/{id}/ack POST "/subscriptions/$SUB/ack" '{"cursor":"garbage"}'; expect_status 400
call /subscriptions/{id}/stream GET /subscriptions/nope/stream; expect_status 404
call /subscriptions/{id} DELETE "/subscriptions/$SUB"; expect_status 204

step "exams (patients and exams)"
call /patients POST /patients '{"document":"11122233344","name":"Ana Clara Souza","status":"active","email":"ana.clara@example.org"}'
expect_status 201
PAT=$(printf '%s' "$BODY" | jq -r .data.id)
call /patients POST /patients '{"document":"11122233344","name":"Other Person"}'; expect_status 409
call /patients/{id} GET "/patients/$PAT"; expect_status 200
call /patients/{id} GET /patients/nope; expect_status 404
call /document/find POST /document/find '{"document":"11122233344"}'; expect_status 200
call /exam/new POST /exam/new '{"document":"11122233344","exam_type":1}'; expect_status 200
EXAM=$(printf '%s' "$BODY" | jq -r .data.exam_id)
call /exam/new POST /exam/new '{"exam_type":1}'; expect_status 400
call /exams/info GET "/exams/info?document=11122233344"; expect_status 200
call /exam/start POST /exam/start "{\"document\":\"11122233344\",\"exam_id\":\"$EXAM\",\"exam_type\":1}"
expect_status 200
call /exam/revoke POST /exam/revoke "{\"document\":\"11122233344\",\"exam_id\":\"$EXAM\",\"reason\":\"test\"}"
expect_status 200
call /exam/revoke POST /exam/revoke "{\"document\":\"11122233344\",\"exam_id\":\"$EXAM\",\"reason\":\"again\"}"
expect_status 409

step "a body over http.max_body_bytes: 413 in each flow's format"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$E2E_TMP/big.json"
BIG=(--data-binary "@$E2E_TMP/big.json" -H 'Content-Type: application/json')
call /topics POST /topics "" "${BIG[@]}"; expect_status 413
call /api/patients/{patient_id}/episodes POST "/api/patients/$P1/episodes" "" "${BIG[@]}" "${HDRS[@]}"
expect_status 413
call /hri/tenants/{tenantId}/batches POST /hri/tenants/t1/batches "" "${BIG[@]}" -H "Authorization: Bearer $INTEG"
expect_status 413
call /exam/new POST /exam/new "" "${BIG[@]}"; expect_status 413

step "every answer against its operation's response schema"
node "$SOURCE_DIR/tests/e2e/openapi_answers.js" "$E2E_TMP/served.json" "$ANSWERS" ||
  fail "answers that do not match the document"
stop_medflowd
echo "PASS $TEST_NAME"
