#!/usr/bin/env bash
# Hostile JSON against the real medflowd: a value nested 59,000 deep (which once overflowed the
# stack of the thread that wrote the record) and numbers beyond a double's range (which once
# answered 500), on every area that reads a JSON body. Each gets a 400 in its route's style
# naming the limit or the field, and the daemon keeps serving.
source "$(dirname "$0")/lib.sh"

# deep N OPEN CLOSE: N opening brackets, a 1, N closing ones.
deep() {
  local open close
  open=$(printf '%*s' "$1" '' | tr ' ' "$2")
  close=$(printf '%*s' "$1" '' | tr ' ' "$3")
  printf '%s1%s' "$open" "$close"
}
# post_file PATH FILE [curl args...]: POST a body from a file (too large for an argument).
post_file() {
  local path=$1 file=$2
  shift 2
  STATUS=$(curl -s -o "$E2E_TMP/body" -w '%{http_code}' -X POST "$MF_URL$path" \
    -H 'Content-Type: application/json' --data-binary "@$file" "$@")
  BODY=$(cat "$E2E_TMP/body")
}
alive() {
  http GET /healthz
  expect_status 200
}

AGG=(--set aggregation.services_dir="$SOURCE_DIR/config/aggregation"
     --set aggregation.tak_file="$SOURCE_DIR/config/aggregation/tak.json")
start_medflowd --set hri.auth.disabled=true "${AGG[@]}"

step "a record value nested 59,000 deep: 400 naming the limit, and the daemon lives"
http POST /topics '{"name":"deep","partitions":1}'; expect_status 201
printf '{"records":[{"value":%s}]}' "$(deep 59000 '[' ']')" >"$E2E_TMP/deep_array.json"
post_file /topics/deep/records "$E2E_TMP/deep_array.json"
expect_status 400
expect_json .error.code bad_request
expect_json '.error.message | test("nesting deeper than 256 levels \\(json.max_depth\\)")' true
alive
{
  printf '{"records":[{"value":'
  printf '{"a":%.0s' $(seq 59000)
  printf '1'
  printf '%*s' 59000 '' | tr ' ' '}'
  printf '}]}'
} >"$E2E_TMP/deep_object.json"
post_file /topics/deep/records "$E2E_TMP/deep_object.json"
expect_status 400
expect_json '.error.message | test("nesting deeper than 256")' true
alive

step "the limit is exact: 256 levels in all are taken, 257 are not"
# The body's own object and records array are two of the levels.
printf '{"records":[{"value":%s}]}' "$(deep 253 '[' ']')" >"$E2E_TMP/d256.json"
post_file /topics/deep/records "$E2E_TMP/d256.json"
expect_status 200
http GET '/topics/deep/partitions/0/records?offset=0&max=1'; expect_status 200
# (jq itself stops at 256 levels: count the brackets instead.)
expect_eq "$(printf '%s' "$BODY" | tr -cd '[' | wc -c)" 254 "'[' in the record read back"
printf '{"records":[{"value":%s}]}' "$(deep 254 '[' ']')" >"$E2E_TMP/d257.json"
post_file /topics/deep/records "$E2E_TMP/d257.json"
expect_status 400
expect_json .error.message "request body: nesting deeper than 256 levels (json.max_depth) at line 1, column 275"

step "1e999 answers 400 naming the field on /topics, /admin and /aggregation"
http POST /topics '{"name":"n","partitions":1e999}'
expect_status 400
expect_json .error.message "request body: number out of range at partitions: 1e999"
http POST /topics/deep/records '{"records":[{"key":"k","value":{"dose":[1,-2e400]}}]}'
expect_status 400
expect_json .error.message "request body: number out of range at records[0].value.dose[1]: -2e400"
http PUT /admin/persons/33333333-3333-4333-8333-333333333333 '{"status":"active","weight":1e999}'
expect_status 400
expect_json .error.message "request body: number out of range at weight: 1e999"
H=(-H "x-vp-sender-id: sender" -H "x-rivta-original-serviceconsumer-hsaid: other"
   -H "x-skltp-correlation-id: corr-1")
http POST /aggregation/GetAggregatedCareContacts '{"patientId":1e999}' "${H[@]}"
expect_status 400
expect_json '.error.message // .' "request body: number out of range at patientId: 1e999"
http POST /aggregation/engagement-index/find-content '{"registeredResidentIdentification":1E+400}'
expect_status 400
expect_json .error.message "request body: number out of range at registeredResidentIdentification: 1E+400"
alive

step "deep bodies on /admin, /aggregation, /hri and /api: 400 in each route's style"
deep 5000 '[' ']' >"$E2E_TMP/deep_body.json"
post_file /aggregation/GetAggregatedCareContacts "$E2E_TMP/deep_body.json" "${H[@]}"
expect_status 400
expect_json '.error.message // .' "request body: nesting deeper than 256 levels (json.max_depth) at line 1, column 257"
post_file /aggregation/engagement-index/find-content "$E2E_TMP/deep_body.json"
expect_status 400
STATUS=$(curl -s -o "$E2E_TMP/body" -w '%{http_code}' -X PUT \
  "$MF_URL/admin/persons/33333333-3333-4333-8333-333333333333" --data-binary "@$E2E_TMP/deep_body.json")
BODY=$(cat "$E2E_TMP/body")
expect_status 400
expect_json '.error.message | test("nesting deeper than 256")' true
printf '{"name":"b","topic":"ingest.t1.s1.in","dataType":"claims","metadata":{"m":%s}}' \
  "$(deep 5000 '[' ']')" >"$E2E_TMP/deep_batch.json"
post_file /hri/tenants/t1/batches "$E2E_TMP/deep_batch.json"
expect_status 400
expect_json '.errorDescription | test("nesting deeper than 256 levels \\(json.max_depth\\)")' true
ME=(-H 'x-consumer-id: u1' -H 'x-consumer-metadata: {"client_id":"11111111-1111-4111-8111-111111111111"}')
post_file /api/patients/33333333-3333-4333-8333-333333333333/episodes "$E2E_TMP/deep_body.json" "${ME[@]}"
expect_status 400
expect_json '.error.message | test("nesting deeper than 256")' true
alive
stop_medflowd

step "json.max_depth is configuration"
start_medflowd --set json.max_depth=8 "${AGG[@]}"
http POST /topics '{"name":"shallow","partitions":1}'; expect_status 201
http POST /topics/shallow/records "{\"records\":[{\"value\":$(deep 5 '[' ']')}]}"
expect_status 200
http POST /topics/shallow/records "{\"records\":[{\"value\":$(deep 6 '[' ']')}]}"
expect_status 400
expect_json .error.message "request body: nesting deeper than 8 levels (json.max_depth) at line 1, column 27"
alive
stop_medflowd
rc=0
"$MEDFLOWD" --set json.max_depth=0 >/dev/null 2>"$E2E_TMP/cfg.err" || rc=$?
expect_eq "$rc" 2 "exit code of json.max_depth=0"
grep -q "invalid value for json.max_depth" "$E2E_TMP/cfg.err" || fail "config error: $(cat "$E2E_TMP/cfg.err")"
echo "ok"
