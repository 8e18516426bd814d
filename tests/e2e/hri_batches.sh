#!/usr/bin/env bash
# The batches flow (HRI) end to end on the embedded default: tenants, streams and their
# topics, batches through their status machine driven by records produced to .in (validation
# into .out / .invalid, notifications), the 401 matrix with real tokens, 404/405, headers.
source "$(dirname "$0")/lib.sh"
: "${MEDFLOW_TOKEN:=$(dirname "$MEDFLOWD")/medflow-token}"
SECRET=e2e-secret
start_medflowd --set hri.auth.hs256_secret=$SECRET --set hri.auth.audience=hri-api \
  --set hri.auth.issuer=https://issuer.test --set hri.completion_delay_ms=300 \
  --set bus.commit_interval_ms=0 --set hri.topic_grants=t1:ingest.shared.s9.in

tok() { "$MEDFLOW_TOKEN" --secret "${SECRET_OVERRIDE:-$SECRET}" --aud "${AUD:-hri-api}" --iss https://issuer.test "$@"; }
ADMIN=$(tok --sub admin --scope "hri_admin")
INTEG=$(tok --sub integ-1 --scope "tenant_t1 hri_data_integrator")
INTEG2=$(tok --sub integ-2 --scope "tenant_t1 hri_data_integrator")
CONSUMER=$(tok --sub reader --scope "tenant_t1 hri_consumer")
INTERNAL=$(tok --sub flink --scope "tenant_t1 hri_internal hri_consumer")
as() { local t=$1; shift; http "$1" "$2" "${3:-}" -H "Authorization: Bearer $t"; }

bundle() { printf '{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"%s"}}]}' "$1"; }
# produce BATCH_ID VALUE_JSON [KEY]: one record on ingest.t1.s1.in with the batchId header.
produce() {
  local hdr=""
  [ -n "$1" ] && hdr=",\"headers\":{\"batchId\":\"$1\"}"
  http POST /topics/ingest.t1.s1.in/records "{\"records\":[{\"key\":\"${3:-k}\",\"value\":$2$hdr}]}"
  expect_status 200
}
status_of() { as "$INTEG" GET "/hri/tenants/t1/batches/$1"; printf '%s' "$BODY" | jq -r .status; }
is_status() { [ "$(status_of "$1")" = "$2" ]; }
wait_status() { wait_until 15 is_status "$1" "$2" || fail "batch $1 did not reach $2 (is $(status_of "$1"))"; }
# count TOPIC JQ_FILTER: how many records of the topic (all partitions) match the filter
count() { records "$1" | jq "[.[] | select($2)] | length"; }
has_count() { [ "$(count "$1" "$2")" = "$3" ]; }
# records TOPIC: every value of all partitions as one JSON array
records() {
  local parts all="[]"
  parts=$(curl -s "$MF_URL/topics" | jq -r ".topics[] | select(.name==\"$1\") | .partitions")
  for p in $(seq 0 $((parts - 1))); do
    all=$(jq -c -s '.[0] + .[1].records' <(echo "$all") <(curl -s "$MF_URL/topics/$1/partitions/$p/records?max=10000"))
  done
  printf '%s' "$all"
}
create_batch() {
  as "$INTEG" POST /hri/tenants/t1/batches "{\"name\":\"$1\",\"topic\":\"ingest.t1.s1.in\",\"dataType\":\"claims\"${2:-}}"
  expect_status 201
  printf '%s' "$BODY" | jq -r .id
}

step "tenants and streams"
as "$ADMIN" POST /hri/tenants/t1; expect_status 201; expect_json .tenantId t1
as "$ADMIN" POST /hri/tenants/t1; expect_status 400
expect_json '.errorDescription | startswith("Unable to create new tenant [t1]")' true
as "$ADMIN" POST "/hri/tenants/T1"; expect_status 400
expect_json .errorDescription "invalid request arguments:
- tenantId (url path parameter) may only contain lower-case alpha-numeric chars and the following 2 special chars: '-', '_'"
http POST /hri/tenants/t2; expect_status 401; expect_json .errorDescription "missing header 'Authorization'"
as "$INTEG" POST /hri/tenants/t2; expect_status 401; expect_json .errorDescription "Unauthorized to manage resource"
as "$ADMIN" GET /hri/tenants; expect_status 200; expect_json '.results' '[{"id":"t1"}]'
as "$ADMIN" POST /hri/tenants/t1/streams/s1 '{"numPartitions":2,"retentionMs":3600000,"validator":"fhir"}'
expect_status 201; expect_json .id s1
as "$ADMIN" POST /hri/tenants/t1/streams/s1 '{"numPartitions":2,"retentionMs":3600000}'
expect_status 409; expect_json .errorDescription "topic 'ingest.t1.s1.in' already exists"
as "$ADMIN" POST /hri/tenants/t1/streams/s2 '{"numPartitions":0,"retentionMs":10}'; expect_status 400
as "$ADMIN" GET /hri/tenants/t1/streams; expect_json '.results' '[{"id":"s1"}]'
http GET /topics
for t in in:2 notification:1 out:2 invalid:1; do
  expect_json ".topics[] | select(.name==\"ingest.t1.s1.${t%%:*}\") | .partitions" "${t##*:}"
done

step "happy path: started -> sendCompleted -> completed, valid to .out, invalid to .invalid"
b1=$(create_batch happy)
produce "$b1" "$(bundle p1)" key-1
produce "$b1" "$(bundle p2)" key-2
produce "$b1" '{"resourceType":"Patient"}' key-3
as "$INTEG" PUT "/hri/tenants/t1/batches/$b1/action/sendComplete" '{"expectedRecordCount":3,"metadata":{"compression":"gzip"}}'
expect_status 200
wait_status "$b1" completed
as "$CONSUMER" GET "/hri/tenants/t1/batches/$b1"; expect_status 200
expect_json .actualRecordCount 3; expect_json .invalidRecordCount 1; expect_json .expectedRecordCount 3
expect_json .recordCount 3; expect_json .metadata.compression gzip; expect_json '.endDate | length > 0' true
notes=$(records ingest.t1.s1.notification)
expect_eq "$(jq -c "[.[] | select(.key==\"$b1\") | .value.status]" <<<"$notes")" '["started","sendCompleted","completed"]' "notifications of $b1"
outs=$(records ingest.t1.s1.out)
expect_eq "$(jq "[.[] | select(.headers.batchId==\"$b1\")] | length" <<<"$outs")" 2 "records of $b1 on .out"
expect_eq "$(jq -r "[.[] | select(.headers.batchId==\"$b1\")][] | select(.key==\"key-1\") | .value.entry[0].resource.id" <<<"$outs")" p1 "forwarded value"
inv=$(records ingest.t1.s1.invalid)
expect_eq "$(jq -c "[.[] | select(.value.batchId==\"$b1\") | .value | {topic, failure}]" <<<"$inv" | jq -r '.[0].topic')" ingest.t1.s1.in "invalid record source topic"
expect_eq "$(jq "[.[] | select(.value.batchId==\"$b1\") | .value | has(\"partition\") and has(\"offset\")] | all" <<<"$inv")" true "invalid record position"

step "late record after completion -> .invalid, batch stays completed"
produce "$b1" "$(bundle late)"
wait_until 10 has_count ingest.t1.s1.invalid '.value.failure=="Bad Message - batchId is already completed"' 1 \
  || fail "no invalid record for the late record"
expect_eq "$(status_of "$b1")" completed "status after a late record"

step "invalid threshold reached -> failed; later records dropped"
b2=$(create_batch threshold ',"invalidThreshold":2')
produce "$b2" '"not a bundle"'
produce "$b2" '{"resourceType":"Bundle","type":"nope"}'
wait_status "$b2" failed
as "$INTEG" GET "/hri/tenants/t1/batches/$b2"
expect_json .failureMessage "Failing Batch: $b2, too many invalid records invalidCount: 2 == invalidThreshold: 2"
produce "$b2" "$(bundle after-fail)"
sleep 0.3
expect_eq "$(records ingest.t1.s1.out | jq "[.[] | select(.headers.batchId==\"$b2\")] | length")" 0 "records of a failed batch forwarded"

step "too many records -> failed"
b3=$(create_batch toomany)
as "$INTEG" PUT "/hri/tenants/t1/batches/$b3/action/sendComplete" '{"expectedRecordCount":1}'; expect_status 200
# Both in one append: two requests could be further apart than the completion delay on a
# loaded machine, and the batch would complete with the first.
http POST /topics/ingest.t1.s1.in/records "{\"records\":[{\"key\":\"k\",\"value\":$(bundle a),\"headers\":{\"batchId\":\"$b3\"}},{\"key\":\"k\",\"value\":$(bundle b),\"headers\":{\"batchId\":\"$b3\"}}]}"
expect_status 200
wait_status "$b3" failed
as "$INTEG" GET "/hri/tenants/t1/batches/$b3"
expect_json .failureMessage "Failing batch: $b3, received too many records, actualRecordCount: 2 > expectedRecordCount: 1"

step "unknown and missing batchId -> .invalid"
produce "nosuchbatch" "$(bundle x)"
produce "" "$(bundle y)"
wait_until 10 has_count ingest.t1.s1.invalid '.value.failure=="Bad Message - Unknown batchId" and .value.batchId=="nosuchbatch"' 1 \
  || fail "unknown batchId not reported"
wait_until 10 has_count ingest.t1.s1.invalid '.value.failure=="Bad Message - No header or batchId node" and (.value | has("batchId") | not)' 1 \
  || fail "missing batchId not reported"

step "terminate stops forwarding"
b4=$(create_batch term)
produce "$b4" "$(bundle before)"
wait_until 10 has_count ingest.t1.s1.out ".headers.batchId==\"$b4\"" 1 || fail "first record of $b4 not forwarded"
as "$INTEG" PUT "/hri/tenants/t1/batches/$b4/action/terminate" '{"metadata":{"why":"oops"}}'; expect_status 200
expect_eq "$(status_of "$b4")" terminated "status after terminate"
produce "$b4" "$(bundle after)"
sleep 0.3
expect_eq "$(records ingest.t1.s1.out | jq "[.[] | select(.headers.batchId==\"$b4\")] | length")" 1 "records of $b4 on .out"

step "two interleaved batches complete independently"
b5=$(create_batch left); b6=$(create_batch right)
for i in 1 2 3; do produce "$b5" "$(bundle l$i)" "k$i"; produce "$b6" "$(bundle r$i)" "k$i"; done
produce "$b6" "$(bundle r4)"
as "$INTEG" PUT "/hri/tenants/t1/batches/$b5/action/sendComplete" '{"expectedRecordCount":3}'; expect_status 200
as "$INTEG" PUT "/hri/tenants/t1/batches/$b6/action/sendComplete" '{"recordCount":4}'; expect_status 200
wait_status "$b5" completed; wait_status "$b6" completed

step "409s and the internal actions"
as "$INTEG" PUT "/hri/tenants/t1/batches/$b5/action/sendComplete" '{"expectedRecordCount":3}'
expect_status 409; expect_json .errorDescription "sendComplete failed, batch is in 'completed' state"
as "$INTEG" PUT "/hri/tenants/t1/batches/$b4/action/terminate" ''
expect_status 409; expect_json .errorDescription "terminate failed, batch is in 'terminated' state"
b7=$(create_batch internal)
as "$INTERNAL" PUT "/hri/tenants/t1/batches/$b7/action/fail" '{"actualRecordCount":0,"invalidRecordCount":0,"failureMessage":"manual"}'
expect_status 200
expect_eq "$(status_of "$b7")" failed "status after fail"
as "$INTERNAL" PUT "/hri/tenants/t1/batches/$b7/action/processingComplete" '{"actualRecordCount":0,"invalidRecordCount":0}'
expect_status 409; expect_json .errorDescription "processingComplete failed, batch is in 'failed' state"
as "$INTEG" PUT "/hri/tenants/t1/batches/$b1/action/fail" '{"actualRecordCount":0,"invalidRecordCount":0,"failureMessage":"x"}'
expect_status 401; expect_json .errorDescription "Must have hri_internal role to mark a batch as failed"
as "$INTEG" PUT "/hri/tenants/t1/batches/$b1/action/sendComplete" '{}'
expect_status 400
as "$INTEG" PUT "/hri/tenants/t1/batches/nosuch/action/terminate" ''
expect_status 404
expect_json .errorDescription "error getting current Batch Status: The document for tenantId: t1 with document (batch) ID: nosuch was not found"

step "the 401 matrix"
http GET /hri/tenants/t1/batches; expect_status 401
expect_json .errorDescription "Authorization token validation failed: oidc: malformed jwt: square/go-jose: compact JWS format must have three parts"
BAD=$(SECRET_OVERRIDE=wrong tok --sub integ-1 --scope "tenant_t1 hri_data_integrator")
as "$BAD" GET /hri/tenants/t1/batches; expect_status 401
expect_json .errorDescription "Authorization token validation failed: signature is invalid"
OTHERAUD=$(AUD=someone-else tok --sub integ-1 --scope "tenant_t1 hri_data_integrator")
as "$OTHERAUD" GET /hri/tenants/t1/batches; expect_status 401
expect_json .errorDescription 'Authorization token validation failed: oidc: expected audience "hri-api" got ["someone-else"]'
EXPIRED=$(tok --sub integ-1 --scope "tenant_t1 hri_data_integrator" --claim exp=1000000000)
as "$EXPIRED" GET /hri/tenants/t1/batches; expect_status 401
expect_json .errorDescription "Authorization token validation failed: token is expired"
as "$INTEG" GET /hri/tenants/t9/batches; expect_status 401
expect_json .errorDescription "Unauthorized tenant access. Tenant 't9' is not included in the authorized scopes: tenant_t1 hri_data_integrator."
NOROLE=$(tok --sub x --scope "tenant_t1")
as "$NOROLE" GET /hri/tenants/t1/batches; expect_status 401
expect_json .errorDescription "The access token must have one of these scopes: hri_consumer, hri_data_integrator"
as "$CONSUMER" POST /hri/tenants/t1/batches '{"name":"n","topic":"ingest.t1.s1.in","dataType":"d"}'; expect_status 401
expect_json .errorDescription "Must have hri_data_integrator role to create a batch"

step "a batch writes only into its tenant's topics, or one granted to it (hri.topic_grants)"
as "$ADMIN" POST /hri/tenants/t2; expect_status 201
as "$ADMIN" POST /hri/tenants/t2/streams/s1 '{"numPartitions":1,"retentionMs":3600000,"validator":"passthrough"}'
expect_status 201
as "$INTEG" POST /hri/tenants/t1/batches '{"name":"x","topic":"ingest.t2.s1.in","dataType":"d"}'; expect_status 403
expect_json .errorDescription "Unauthorized topic access. Topic 'ingest.t2.s1.in' is not in tenant 't1''s namespace (ingest.t1.*) and not granted to it (hri.topic_grants)."
expect_eq "$(count ingest.t2.s1.notification 'true')" 0 "notifications written into tenant t2's topic"
http POST /topics '{"name":"ingest.shared.s9.notification","partitions":1}'; expect_status 201
as "$INTEG" POST /hri/tenants/t1/batches '{"name":"granted","topic":"ingest.shared.s9.in","dataType":"d"}'; expect_status 201
expect_eq "$(count ingest.shared.s9.notification '.value.status=="started"')" 1 "started notification in the granted topic"
as "$ADMIN" DELETE /hri/tenants/t2/streams/s1; expect_status 200
as "$ADMIN" DELETE /hri/tenants/t2; expect_status 200
as "$INTEG2" GET "/hri/tenants/t1/batches/$b1"; expect_status 401
expect_json .errorDescription "The token's sub claim (clientId): integ-2 does not match the data integratorId: integ-1"
as "$INTEG2" PUT "/hri/tenants/t1/batches/$b7/action/terminate" ''; expect_status 401
expect_json .errorDescription "terminate requested by 'integ-2' but owned by 'integ-1'"

step "search: integrator isolation, filters, paging"
mine=$(create_batch mine-only)
as "$INTEG2" POST /hri/tenants/t1/batches '{"name":"theirs","topic":"ingest.t1.s1.in","dataType":"claims"}'; expect_status 201
as "$INTEG2" GET /hri/tenants/t1/batches; expect_status 200
expect_json .total 1; expect_json '.results[0].name' theirs
as "$CONSUMER" GET "/hri/tenants/t1/batches?size=100"; expect_json .total 10   # with the granted-topic batch
as "$CONSUMER" GET "/hri/tenants/t1/batches?status=completed"; expect_json .total 3
as "$CONSUMER" GET "/hri/tenants/t1/batches?name=happy"; expect_json '.results[0].id' "$b1"
as "$CONSUMER" GET "/hri/tenants/t1/batches?size=2&from=1"; expect_json '.results | length' 2
as "$CONSUMER" GET "/hri/tenants/t1/batches?gteDate=INVALID"; expect_status 400
as "$CONSUMER" GET "/hri/tenants/t1/batches?status=bogus"; expect_status 200; expect_json .total 0

step "HRI conventions: 404/405 bodies, headers, healthcheck"
http GET /hri/nothing; expect_status 404; expect_json . '{"message":"Not Found"}'
http DELETE /hri/tenants/t1/batches; expect_status 405; expect_json . '{"message":"Method Not Allowed"}'
hdrs=$(curl -s -D - -o /dev/null -H "X-Request-ID: req-42" -H "Authorization: Bearer $CONSUMER" "$MF_URL/hri/tenants/t1/batches/nosuch" | tr -d '\r')
grep -qi "^X-Request-ID: req-42" <<<"$hdrs" || fail "X-Request-ID not echoed"
grep -qi "^X-Content-Type-Options: nosniff" <<<"$hdrs" || fail "security headers missing"
http GET "/hri/tenants/t1/batches/nosuch" "" -H "X-Request-ID: req-43" -H "Authorization: Bearer $CONSUMER"
expect_status 404; expect_json .errorEventId req-43
# An action is answered by the batch's actor, after its request has left the HTTP handler: the
# answer still carries the request's id and HRI's security headers.
hdrs=$(curl -s -D "$E2E_TMP/h44" -o "$E2E_TMP/b44" -X PUT -H "X-Request-ID: req-44" -H "Authorization: Bearer $INTEG" \
  "$MF_URL/hri/tenants/t1/batches/$b4/action/terminate" -w '%{http_code}')
expect_eq "$hdrs" 409 "status of an action refused by the batch's actor"
tr -d '\r' <"$E2E_TMP/h44" | grep -qi "^X-Request-ID: req-44" || fail "X-Request-ID not echoed on an action"
tr -d '\r' <"$E2E_TMP/h44" | grep -qi "^X-Content-Type-Options: nosniff" || fail "security headers missing on an action"
expect_eq "$(jq -r .errorEventId "$E2E_TMP/b44")" req-44 "errorEventId of an action"
http GET /hri/healthcheck; expect_status 200
http GET /alive; expect_status 200; expect_eq "$BODY" yes "alive body"

step "tenant delete"
as "$ADMIN" DELETE /hri/tenants/t1; expect_status 200
as "$CONSUMER" GET "/hri/tenants/t1/batches/$b1"; expect_status 404
as "$ADMIN" DELETE /hri/tenants/t1/streams/s1; expect_status 200
http GET /topics; expect_json '[.topics[].name | select(startswith("ingest.t1.s1"))] | length' 0
stop_medflowd
echo "PASS $TEST_NAME"
