#!/usr/bin/env bash
# The aggregation flow end to end: medflowd with its local engagement index, service
# definitions and TAK written here, and fake_source playing every source system (delays,
# faults, garbage, per logical address). One request fans out to every source of the patient
# and comes back once, with one processing-status record per source.
source "$(dirname "$0")/lib.sh"
kafka_bus_for_store  # E2E_STORE=postgres (its bus is Kafka)

step "fake sources"
"$TOOLS_DIR/fake_source" --port 0 --default-delay-ms 20 --default-items 1 >"$E2E_TMP/fake.out" 2>"$E2E_TMP/fake.err" &
BG_PIDS+=($!)
wait_until 10 grep -q "listening on" "$E2E_TMP/fake.out" || fail "fake_source did not start"
FPORT=$(sed -n 's/.*listening on \([0-9]*\).*/\1/p' "$E2E_TMP/fake.out")
FAKE="http://127.0.0.1:$FPORT"

CONF="$E2E_TMP/agg"; mkdir -p "$CONF"
service() {  # name dedupe categorization cache-json
  cat >"$CONF/$1.json" <<JSON
{"name": "$1", "serviceDomain": "riv:test", "contract": "urn:test:$1",
 "categorization": $3, "patientIdPointer": "/patientId", "sourceSystemPointer": "/sourceSystemHSAId",
 "dedupeOn": "$2", "listField": "items",
 "timeouts": {"serviceMs": 300, "aggregateMs": 600, "aggregatedServiceMs": 1000},
 "cache": $4}
JSON
}
service Plain sourceSystem '[]' '{"enabled": false}'
service ByAddress logicalAddress '[]' '{"enabled": false}'
service Categories sourceSystem '["cat2","cat3"]' '{"enabled": false}'
service Cached sourceSystem '[]' '{"enabled": true, "ttlMs": 400, "staleMs": 60000, "expirationIntervalMs": 1000, "maxEntries": 100}'
perms=""; routes=""
for s in Plain ByAddress Categories Cached; do
  for a in HSA-ID-1 HSA-ID-2 HSA-ID-3 HSA-ID-4 HSA-ID-5 HSA-ID-6 5565594230; do
    perms+="{\"consumer\":\"sender\",\"contract\":\"urn:test:$s\",\"logicalAddress\":\"$a\"},"
    routes+="{\"contract\":\"urn:test:$s\",\"logicalAddress\":\"$a\",\"url\":\"$FAKE/$a\"},"
  done
  # HSA-ID-7: only the original consumer may; HSA-ID-8: permitted but no route.
  perms+="{\"consumer\":\"original\",\"contract\":\"urn:test:$s\",\"logicalAddress\":\"HSA-ID-7\"},"
  routes+="{\"contract\":\"urn:test:$s\",\"logicalAddress\":\"HSA-ID-7\",\"url\":\"$FAKE/HSA-ID-7\"},"
  perms+="{\"consumer\":\"sender\",\"contract\":\"urn:test:$s\",\"logicalAddress\":\"HSA-ID-8\"},"
done
echo "{\"permissions\":[${perms%,}],\"routes\":[${routes%,}]}" >"$CONF/tak.json"

# Engagement index writes need a token with the scope agp_admin (every start below).
: "${MEDFLOW_TOKEN:=$(dirname "$MEDFLOWD")/medflow-token}"
export MEDFLOW_AGGREGATION_AUTH_HS256_SECRET=e2e-agp-secret
WRITER=$("$MEDFLOW_TOKEN" --secret e2e-agp-secret --sub ei-feed --scope "agp_admin")
READER=$("$MEDFLOW_TOKEN" --secret e2e-agp-secret --sub someone --scope "agp_reader")
start_medflowd --set aggregation.services_dir="$CONF" --set aggregation.tak_file="$CONF/tak.json" \
  --set aggregation.service_timeout_ms=300 --set aggregation.aggregate_timeout_ms=600 \
  --set aggregation.aggregated_service_timeout_ms=1000

H=(-H "x-vp-sender-id: sender" -H "x-rivta-original-serviceconsumer-hsaid: other" -H "x-skltp-correlation-id: corr-1")
ask() { http POST "/aggregation/$1" "$2" "${H[@]}" "${@:3}"; }
fake() { curl -s -XPOST "$FAKE/config" -d "$1" >/dev/null; }
# engage PATIENT ADDRESS SOURCE [CATEGORY]
engage() {
  http POST /aggregation/engagement-index/update "{\"engagementTransaction\":[{\"deleteFlag\":false,\"engagement\":{
    \"registeredResidentIdentification\":\"$1\",\"serviceDomain\":\"riv:test\",\"categorization\":\"${4:-cat1}\",
    \"logicalAddress\":\"$2\",\"businessObjectInstanceIdentifier\":\"bo-$2\",\"clinicalProcessInterestId\":\"cpi\",
    \"sourceSystem\":\"$3\",\"dataController\":\"5565594230\"}}]}" -H "Authorization: Bearer $WRITER"
  expect_status 200
}
status_of() { printf '%s' "$BODY" | jq -r "[.processingStatus[] | select(.logicalAddress==\"$1\") | .statusCode] | join(\",\")"; }

step "engagement index: update and find-content"
for a in HSA-ID-4 HSA-ID-5 HSA-ID-6; do engage 121212121212 "$a" "$a"; done
http POST /aggregation/engagement-index/find-content '{"registeredResidentIdentification":"121212121212","serviceDomain":"riv:test"}'
expect_status 200; expect_json '.engagement | length' 3
http POST /aggregation/engagement-index/update '{"engagementTransaction":[{"engagement":{"registeredResidentIdentification":"bad"}}]}' \
  -H "Authorization: Bearer $WRITER"
expect_status 400

step "engagement index writes need a token with agp_admin (update and process-notification)"
ENG='{"registeredResidentIdentification":"121212121212","serviceDomain":"riv:test","categorization":"cat1","logicalAddress":"HSA-ID-1","businessObjectInstanceIdentifier":"x","clinicalProcessInterestId":"cpi","sourceSystem":"HSA-ID-1","dataController":"5565594230"}'
ONE="{\"engagementTransaction\":[{\"engagement\":$ENG}]}"
for route in update process-notification; do
  http POST /aggregation/engagement-index/$route "$ONE"; expect_status 401; expect_json .error.code unauthorized
  http POST /aggregation/engagement-index/$route "$ONE" -H "Authorization: Bearer $READER"
  expect_status 403; expect_json .error.message "the token's scopes do not include agp_admin"
done
http POST /aggregation/engagement-index/find-content '{"registeredResidentIdentification":"121212121212","serviceDomain":"riv:test"}'
expect_json '.engagement | length' 3
http POST /aggregation/engagement-index/process-notification "$ONE" -H "Authorization: Bearer $WRITER"; expect_status 200
http POST /aggregation/engagement-index/find-content '{"registeredResidentIdentification":"121212121212","serviceDomain":"riv:test"}'
expect_json '.engagement | length' 4
http POST /aggregation/engagement-index/update "{\"engagementTransaction\":[{\"deleteFlag\":true,\"engagement\":$ENG}]}" \
  -H "Authorization: Bearer $WRITER"
expect_status 200; expect_json .deleted 1

step "all sources answer: one list, one DataFromSource record each"
fake '{"*":{"delay_ms":20,"items":1}}'
ask Plain '{"patientId":"121212121212"}'
expect_status 200
expect_json '.items | length' 3
expect_json '.processingStatus | length' 3
expect_json '[.processingStatus[].statusCode] | unique' '["DataFromSource"]'
expect_json '.processingStatus[0].isResponseFromCache' false
expect_json '.processingStatus[0].isResponseInSynch' true
expect_json '.processingStatus[0].lastSuccessfulSynch | test("^[0-9]{14}$")' true

step "no engagements: empty answer, 200"
ask Plain '{"patientId":"188803099368"}'
expect_status 200; expect_json '.items' '[]'; expect_json '.processingStatus' '[]'

step "an empty source is still DataFromSource"
engage 194911172296 HSA-ID-1 HSA-ID-1; engage 194911172296 HSA-ID-2 HSA-ID-2
fake '{"HSA-ID-2":{"items":0},"*":{"items":1}}'
ask Plain '{"patientId":"194911172296"}'
expect_json '.items | length' 1
expect_eq "$(status_of HSA-ID-2)" DataFromSource "empty source"

step "per-call timeout, HTTP fault, garbage: NoDataSynchFailed, the others still answer"
engage 198611062384 HSA-ID-1 HSA-ID-1; engage 198611062384 HSA-ID-2 HSA-ID-2; engage 198611062384 HSA-ID-3 HSA-ID-3
fake '{"HSA-ID-1":{"delay_ms":20},"HSA-ID-2":{"status":500,"body":"Invalid Id: 198611062384"},"HSA-ID-3":{"delay_ms":450},"*":{"items":1}}'
start_ms=$(date +%s%3N)
ask Plain '{"patientId":"198611062384"}'
took=$(( $(date +%s%3N) - start_ms ))
expect_status 200
expect_eq "$(status_of HSA-ID-1)" DataFromSource "fast source"
expect_eq "$(status_of HSA-ID-2)" NoDataSynchFailed "faulty source"
expect_json '.processingStatus[] | select(.logicalAddress=="HSA-ID-2") | .lastUnsuccessfulSynchError.code' 500
expect_json '.processingStatus[] | select(.logicalAddress=="HSA-ID-2") | .lastUnsuccessfulSynchError.causingAgent' virtualization_platform
expect_eq "$(status_of HSA-ID-3)" NoDataSynchFailed "slow source (per-call timeout 300 ms)"
expect_json '.processingStatus[] | select(.logicalAddress=="HSA-ID-3") | .lastUnsuccessfulSynchError.code' 504
expect_json '.processingStatus[] | select(.logicalAddress=="HSA-ID-3") | has("lastSuccessfulSynch")' false
[ "$took" -lt 900 ] || fail "answer took $took ms (per-call timeout 300, aggregate 600)"
fake '{"HSA-ID-2":{"garbage":true},"*":{"items":1}}'
ask Plain '{"patientId":"198611062384"}'
expect_eq "$(status_of HSA-ID-2)" NoDataSynchFailed "garbage source"
expect_json '.processingStatus[] | select(.logicalAddress=="HSA-ID-2") | .lastUnsuccessfulSynchError.code' 43000

step "aggregate timeout shorter than the per-call timeout (a per-service override): Unknown error at ~400 ms"
stop_medflowd
sed -i 's/"serviceMs": 300, "aggregateMs": 600/"serviceMs": 900, "aggregateMs": 400/; s/"aggregatedServiceMs": 1000/"aggregatedServiceMs": 1200/' "$CONF/Plain.json"
start_medflowd --set aggregation.services_dir="$CONF" --set aggregation.tak_file="$CONF/tak.json"
fake '{"HSA-ID-3":{"delay_ms":700},"*":{"delay_ms":20,"items":1}}'
start_ms=$(date +%s%3N)
ask Plain '{"patientId":"198611062384"}'
took=$(( $(date +%s%3N) - start_ms ))
expect_status 200
expect_eq "$(status_of HSA-ID-3)" NoDataSynchFailed "source still out at the aggregate timeout"
expect_json '.processingStatus[] | select(.logicalAddress=="HSA-ID-3") | .lastUnsuccessfulSynchError.text' "Unknown error"
expect_json '.processingStatus[] | select(.logicalAddress=="HSA-ID-3") | .lastUnsuccessfulSynchError.code' 43000
expect_json '.processingStatus | length' 3
[ "$took" -ge 380 ] && [ "$took" -lt 800 ] || fail "answer took $took ms (aggregate timeout 400)"

step "a TAK file elsewhere: the services directory's own tak.json is skipped, not read as a service"
stop_medflowd
cp "$CONF/tak.json" "$E2E_TMP/other-tak.json"
start_medflowd --set aggregation.services_dir="$CONF" --set aggregation.tak_file="$E2E_TMP/other-tak.json"
fake '{"*":{"delay_ms":20,"items":1}}'
ask Plain '{"patientId":"198611062384"}'
expect_status 200
expect_json '.processingStatus | length' 3
stop_medflowd
start_medflowd --set aggregation.services_dir="$CONF" --set aggregation.tak_file="$CONF/tak.json" \
  --set log.level=debug

step "authorization: sender or original consumer, route required; refusals counted and logged"
engage 194804032094 HSA-ID-7 HSA-ID-7; engage 194804032094 HSA-ID-8 HSA-ID-8; engage 194804032094 HSA-ID-9 HSA-ID-9
fake '{"*":{"items":1}}'
ask Plain '{"patientId":"194804032094"}'
expect_json '.processingStatus | length' 0   # sender may not call 7, 8 has no route, 9 no permission
http POST /aggregation/Plain '{"patientId":"194804032094"}' -H "x-vp-sender-id: sender" \
  -H "x-rivta-original-serviceconsumer-hsaid: original" -H "x-skltp-correlation-id: c2"
expect_json '[.processingStatus[].logicalAddress]' '["HSA-ID-7"]'
http GET /metrics
grep -q '^medflow_agp_engagements_unauthorized_total{service="Plain"} 3$' <<<"$BODY" \
  || fail "unauthorized engagements not counted: $(grep unauthorized <<<"$BODY")"
for a in HSA-ID-7 HSA-ID-9; do
  grep -q "debug.*Plain correlation corr-1: engagement dropped, no permission on logical address $a " "$E2E_TMP/medflowd.err" \
    || fail "no debug line for $a"
done
grep -q "debug.*correlation c2: engagement dropped, no permission on logical address HSA-ID-9 " "$E2E_TMP/medflowd.err" \
  || fail "no debug line for HSA-ID-9 (c2)"
! grep -q "no permission on logical address HSA-ID-8" "$E2E_TMP/medflowd.err" || fail "HSA-ID-8 has no route, not no permission"

step "dedupe: two engagements of one source system, one call; by logical address for ByAddress"
engage 195001011234 HSA-ID-2 HSA-ID-2; engage 195001011234 HSA-ID-3 HSA-ID-2
ask Plain '{"patientId":"195001011234"}'
expect_json '.processingStatus | length' 1
ask ByAddress '{"patientId":"195001011234"}'
expect_json '[.processingStatus[].logicalAddress] | sort' '["HSA-ID-2","HSA-ID-3"]'

step "source-system filter and category list"
ask Plain '{"patientId":"121212121212","sourceSystemHSAId":"HSA-ID-5"}'
expect_json '[.processingStatus[].logicalAddress]' '["HSA-ID-5"]'
ask Plain '{"patientId":"121212121212","sourceSystemHSAId":"HSA-ID-9"}'
expect_json '.processingStatus | length' 0
engage 194800000002 HSA-ID-4 HSA-ID-4 cat1; engage 194800000002 HSA-ID-5 HSA-ID-5 cat2; engage 194800000002 HSA-ID-6 HSA-ID-6 CAT3
ask Categories '{"patientId":"194800000002"}'
expect_json '[.processingStatus[].logicalAddress] | sort' '["HSA-ID-5","HSA-ID-6"]'

step "recursion guard: an engagement pointing at medflow itself is skipped"
engage 194800000003 5565594230 5565594230; engage 194800000003 HSA-ID-5 HSA-ID-5
ask Plain '{"patientId":"194800000003"}'
expect_json '[.processingStatus[].logicalAddress]' '["HSA-ID-5"]'

step "the request reaches the source unchanged, with the logical address and propagated headers"
fake '{"*":{"items":1}}'
http POST /aggregation/Plain '{"patientId":"194800000003","extra":{"keep":[1,2]}}' "${H[@]}" -H "x-rivta-custom: yes" -H "x-rivta-echo-request: 1"
expect_json '.items[0].request.extra.keep' '[1,2]'
expect_json '.items[0].headers["x-rivta-logical-address"]' HSA-ID-5
expect_json '.items[0].headers["x-skltp-correlation-id"]' corr-1
expect_json '.items[0].headers["x-rivta-custom"]' yes

step "cache: a fresh answer is DataFromCache; a failing source falls back to DataFromCacheSynchFailed"
fake '{"*":{"items":2}}'
ask Cached '{"patientId":"121212121212"}'
expect_json '[.processingStatus[].statusCode] | unique' '["DataFromSource"]'
ask Cached '{"patientId":"121212121212"}'
expect_json '[.processingStatus[].statusCode] | unique' '["DataFromCache"]'
expect_json '.processingStatus[0].isResponseFromCache' true
expect_json '.items | length' 6
sleep 0.5   # past the 400 ms TTL: the sources are called again
fake '{"HSA-ID-4":{"status":503},"*":{"items":2}}'
ask Cached '{"patientId":"121212121212"}'
expect_eq "$(status_of HSA-ID-4)" DataFromCacheSynchFailed "failing source with a cached answer"
expect_json '.processingStatus[] | select(.logicalAddress=="HSA-ID-4") | .isResponseInSynch' false
expect_json '.processingStatus[] | select(.logicalAddress=="HSA-ID-4") | .lastUnsuccessfulSynchError.code' 503
expect_json '.items | length' 6

step "missing headers: every missing one named; unknown service 404"
http POST /aggregation/Plain '{"patientId":"121212121212"}' -H "x-skltp-correlation-id: c"
expect_status 400
expect_json '.error.message == "Mandatory HTTP header x-vp-sender-id is missing\nMandatory HTTP header x-rivta-original-serviceconsumer-hsaid is missing\n"' true
ask Nope '{"patientId":"121212121212"}'; expect_status 404
ask Plain '{"nothing":1}'; expect_status 400
http GET /aggregation; expect_json '[.services[].name] | sort' '["ByAddress","Cached","Categories","Plain"]'

step "engagement index failure fails the request: 502, 504"
stop_medflowd
fake '{"find-content":{"status":500},"slow-index":{"delay_ms":2000},"*":{"items":1}}'
start_medflowd --set aggregation.services_dir="$CONF" --set aggregation.tak_file="$CONF/tak.json" \
  --set aggregation.engagement_index.url="$FAKE/find-content"
ask Plain '{"patientId":"121212121212"}'; expect_status 502; expect_json .error.code engagement_index_fault
stop_medflowd
start_medflowd --set aggregation.services_dir="$CONF" --set aggregation.tak_file="$CONF/tak.json" \
  --set aggregation.engagement_index.url="$FAKE/slow-index" --set aggregation.service_timeout_ms=300 \
  --set aggregation.aggregate_timeout_ms=600 --set aggregation.aggregated_service_timeout_ms=1000
ask Plain '{"patientId":"121212121212"}'; expect_status 504; expect_json .error.code engagement_index_timeout

step "timeouts out of order stop start-up"
rc=0
"$MEDFLOWD" --port 0 --data-dir "$E2E_TMP/bad" --set aggregation.aggregate_timeout_ms=3000 >/dev/null 2>"$E2E_TMP/bad.err" || rc=$?
expect_eq "$rc" 2 "exit code"
grep -q "AGGREGATED_SERVICE_TIMEOUT_MS (5000) > AGGREGATE_TIMEOUT_MS (3000) > SERVICE_TIMEOUT_MS (4000) must hold" "$E2E_TMP/bad.err" \
  || fail "timeout order message: $(cat "$E2E_TMP/bad.err")"
rc=0
SERVICE_TIMEOUT_MS=6000 "$MEDFLOWD" --port 0 --data-dir "$E2E_TMP/bad" >/dev/null 2>"$E2E_TMP/bad.err" || rc=$?
expect_eq "$rc" 2 "exit code with the seed's environment name"
stop_medflowd
echo "PASS $TEST_NAME"
