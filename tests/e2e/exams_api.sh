#!/usr/bin/env bash
# The exams flow's HTTP API end to end (issue 17): the built-in patient manager (personal data
# not in clear on disk), exams registered, started (exam token) and revoked, results given by
# hand through /exams/communicate (forged, expired and mismatched tokens refused, never applied
# twice), the exam resource events; then a second medflowd using the first as its external
# patient manager (ZMED_PATIENT_MANAGER_HOST), and a manager that answers null or is gone.
source "$(dirname "$0")/lib.sh"
kafka_bus_for_store  # E2E_STORE=postgres (its bus is Kafka)
: "${MEDFLOW_TOKEN:=$(dirname "$MEDFLOWD")/medflow-token}"
RESULT_KEY=e2e-result-team-key
export KEY_CRYPTO=$(printf '%064d' 7)
export ZMED_JWT_KEY=e2e-zmed-key
start_medflowd --set exams.result_token_key=$RESULT_KEY --set events.base_url=http://ehealth.test/fhir

# result_token EXAM_ID RESULT_ID [EXP_IN_S] [KEY]: exp may be in the past (negative).
result_token() {
  "$MEDFLOW_TOKEN" --secret "${4:-$RESULT_KEY}" --sub lab --scope results \
    --claim "exp=$(($(date +%s) + ${3:-300}))" \
    --claim "exam_id=$1" --claim "result_id=$2" --claim issued_by=lab-7
}
communicate() { http "${3:-POST}" /exams/communicate "{\"exam_token\":\"$1\",\"result_token\":\"$2\"}"; }
expect_error() {  # STATUS TITLE DETAIL
  expect_status "$1"
  expect_json .status "$1"
  expect_json .title "$2"
  expect_json .detail "$3"
  expect_json 'has("data")' false
}

step "patients: validation names the field; POST, GET, PUT, DELETE; /document/find answers a bare Patient"
http POST /patients '{"document":"11122233344","name":"Ana","email":"ana@example.org"}'
expect_error 400 "Input Error" "name: needs at least two space-separated parts"
http POST /patients '{"document":"11122233344","name":"Ana Souza","email":"ana@spam.com"}'
expect_error 400 "Input Error" "email: domain is blocked"
http POST /patients '{"document":"11122233344","name":"Ana Souza","cellphone":"51898765432"}'
expect_error 400 "Input Error" "cellphone: the 9th digit from the end must be 9 (a mobile number)"
http POST /patients '{"document":"11122233344","name":"Ana Clara Souza","status":"active","email":"ana.clara@example.org","email_verified_at":"2022-08-01T10:00:00Z","cellphone":"51998765432"}'
expect_status 201
P1=$(printf '%s' "$BODY" | jq -r .data.id)
expect_json .data.created_at "$(printf '%s' "$BODY" | jq -r .data.created_at)"
printf '%s' "$BODY" | jq -e '.data.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")' >/dev/null ||
  fail "created_at is not RFC 3339: $BODY"
http POST /patients '{"document":"11122233344","name":"Other Person"}'
expect_error 409 "Patient Error" "Document already registered"
http POST /patients '{"document":"55566677788","name":"Bruno Lima","status":"pending"}'
expect_status 201
P2=$(printf '%s' "$BODY" | jq -r .data.id)
http GET "/patients/$P1"; expect_status 200; expect_json .data.email ana.clara@example.org
http PUT "/patients/$P1" '{"document":"11122233344","name":"Ana Clara Souza","status":"active","email":"ana.clara@example.org","email_verified_at":"2022-08-01T10:00:00Z","cellphone":"51999990000"}'
expect_status 200; expect_json .data.cellphone 51999990000; expect_json .data.email_verified_at 2022-08-01T10:00:00.000Z
http POST /patients '{"document":"77788899900","name":"Carla Dias","status":"active"}'
expect_status 201
P3=$(printf '%s' "$BODY" | jq -r .data.id)
http DELETE "/patients/$P3"; expect_status 200; expect_json .data.status inactive
http GET "/patients/$P3"; expect_error 404 "Patient Error" "Patient not found"
http POST /document/find '{"document":"11122233344"}'
expect_status 200; expect_json .id "$P1"; expect_json .status active; expect_json 'has("data")' false
http POST /document/find '{"document":"00000000000"}'
expect_error 404 "Patient Error" "Patient not found"

step "personal data is sealed at rest: no name, e-mail, phone or document in clear on disk"
# On PostgreSQL: its files (tables and WAL, written out by a checkpoint) and its log.
at_rest=("$E2E_TMP/data")
if [ "${E2E_STORE:-sqlite}" = postgres ]; then pg_query CHECKPOINT >/dev/null; at_rest+=("$MEDFLOW_PG_DIR"); fi
for clear in "Ana Clara Souza" ana.clara@example.org 51999990000 11122233344 "Bruno Lima"; do
  if grep -rqa -- "$clear" "${at_rest[@]}"; then fail "\"$clear\" found in clear in ${at_rest[*]}"; fi
done

step "exams: new (400 / 404 / 422 first), info by query and by body, start"
http POST /exam/new ''
expect_error 400 "Input Error" "Request DTO error"
http POST /exam/new '{"exam_type":1}'
expect_error 400 "Input Error" "request field not found"; expect_json .err document
http POST /exam/new '{"document":"11122233344","exam_type":999}'
expect_error 400 "Input Error" "Exam type not found"
http POST /exam/new '{"document":"99999999999","exam_type":1}'
expect_error 404 "Patient Error" "Patient not found"
http POST /exam/new '{"document":"55566677788","exam_type":1}'
expect_error 422 "Patient Error" "Patient not eligible"
http POST /exam/new '{"document":"11122233344","exam_type":1}'
expect_status 200; expect_json .data.status Registered; expect_json .data.patient_id "$P1"
expect_json .data.is_revoked false
E1=$(printf '%s' "$BODY" | jq -r .data.exam_id)
http POST /exam/new '{"document":"11122233344","exam_type":5}'
expect_status 200
E2=$(printf '%s' "$BODY" | jq -r .data.exam_id)
http GET "/exams/info?document=11122233344"
expect_status 200; expect_json '[.data[].exam_id] | sort' "$(jq -cn --arg a "$E1" --arg b "$E2" '[$a,$b] | sort')"
http GET /exams/info '{"document":"11122233344"}'
expect_status 200; expect_json '.data | length' 2
http POST /exam/start "{\"document\":\"11122233344\",\"exam_id\":\"$E1\"}"
expect_error 400 "Input Error" "request field not found"; expect_json .err "needs exam_id, patient_id and exam_type"
http POST /exam/start "{\"document\":\"11122233344\",\"exam_id\":\"$E1\",\"exam_type\":2}"
expect_error 400 "Input Error" "exam_type does not match the exam"
http POST /exam/start "{\"document\":\"11122233344\",\"exam_id\":\"$E1\",\"exam_type\":1}"
expect_status 200
T1=$(printf '%s' "$BODY" | jq -r .data)
claims=$(python3 -c 'import base64,sys; p=sys.argv[1].split(".")[1]; print(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode())' "$T1")
[ "$(printf '%s' "$claims" | jq -r '[.exam_id, .patient_id, .exam_type, (.exp - .iat), (.jti | length)] | join(",")')" = "$E1,$P1,1,2592000,36" ] ||
  fail "exam token claims: $claims"
python3 -c 'import base64,hashlib,hmac,sys; h,p,s=sys.argv[1].split("."); d=hmac.new(sys.argv[2].encode(), (h+"."+p).encode(), hashlib.sha256).digest(); sys.exit(0 if base64.urlsafe_b64encode(d).rstrip(b"=").decode()==s else 1)' "$T1" "$ZMED_JWT_KEY" ||
  fail "the exam token is not HS256 over ZMED_JWT_KEY"
[ ! -e "$E2E_TMP/data/exams_keys.json" ] || fail "keys generated although KEY_CRYPTO and ZMED_JWT_KEY are set"
http POST /exam/start "{\"document\":\"11122233344\",\"exam_id\":\"$E1\",\"exam_type\":1}"
expect_error 409 "Exam Error" "Exam cannot be started"

step "communicate: forged, expired and mismatched tokens refused; the result applied once"
communicate "${T1%.*}.AAAA" "$(result_token "$E1" r-1)"
expect_error 400 "Input Error" "Invalid exam_token"
communicate "$T1" "$(result_token "$E1" r-1 300 guessed-key)"
expect_error 400 "Input Error" "Invalid result_token"
communicate "$T1" "$(result_token "$E1" r-1 -600)"
expect_error 400 "Input Error" "Invalid result_token"; expect_json .err "token is expired"
communicate "$T1" "$(result_token "$E2" r-1)"
expect_error 400 "Input Error" "Tokens do not match"
communicate "$T1" "$(result_token "$E1" r-1)" GET
expect_status 200; expect_json .data.status Finished; expect_json .data.result_id r-1
communicate "$T1" "$(result_token "$E1" r-1)"
expect_error 409 "Exam Error" "Result already applied"

step "revoke: a Registered exam, not a Finished one"
http POST /exam/revoke "{\"document\":\"11122233344\",\"exam_id\":\"$E1\",\"reason\":\"x\"}"
expect_error 409 "Exam Error" "Exam cannot be revoked"
http POST /exam/revoke "{\"document\":\"11122233344\",\"exam_id\":\"$E2\",\"reason\":\"ordered twice\"}"
expect_status 200; expect_json .data.status Revoked; expect_json .data.is_revoked true
expect_json .data.revoke_reason "ordered twice"

step "exam changes are resource events on zmed-exam"
http GET "/topics/zmed-exam/partitions/0/records?offset=0&max=100"; expect_status 200
expect_json '[.records[].value.eventType] | join(",")' created,created,updated,updated,updated
expect_json '[.records[] | select(.key == "http://ehealth.test/fhir/ServiceRequest/'"$E1"'") | .value.resourceVersion] | join(",")' 1,2,3
expect_json '.records[0].headers.patientReference' "http://ehealth.test/fhir/Patient/$P1"
http GET "/topics/zmed-exam.status/partitions/0/records?offset=0&max=100"; expect_status 200
expect_json '.records | length' 3

step "a second medflowd (development keys generated) with the first as its external patient manager"
B_DATA="$E2E_TMP/data-b"
: >"$E2E_TMP/b.out"
env -u KEY_CRYPTO -u ZMED_JWT_KEY ZMED_PATIENT_MANAGER_HOST="$MF_URL" "$MEDFLOWD" --port 0 --data-dir "$B_DATA" --set log.level=warn \
  --set exams.result_token_key=$RESULT_KEY >"$E2E_TMP/b.out" 2>>"$E2E_TMP/medflowd.err" &
BG_PIDS+=($!)
wait_until 30 grep -q "listening on" "$E2E_TMP/b.out" || fail "second medflowd did not start"
B_URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$E2E_TMP/b.out" | head -n1)
A_URL=$MF_URL
MF_URL=$B_URL
http POST /patients '{"document":"1","name":"Ana Souza"}'
expect_status 404  # patients live in the external manager
[ -s "$B_DATA/exams_keys.json" ] || fail "no development keys generated without KEY_CRYPTO"
[ "$(stat -c %a "$B_DATA/exams_keys.json")" = 600 ] || fail "exams_keys.json is not 0600"
http POST /exam/new '{"document":"11122233344","exam_type":2}'
expect_status 200; expect_json .data.patient_id "$P1"
E3=$(printf '%s' "$BODY" | jq -r .data.exam_id)
http POST /exam/new '{"document":"00000000000","exam_type":2}'
expect_error 404 "Patient Error" "Patient not found"
http POST /exam/new '{"document":"55566677788","exam_type":2}'
expect_error 422 "Patient Error" "Patient not eligible"
http POST /exam/start "{\"document\":\"11122233344\",\"exam_id\":\"$E3\",\"exam_type\":2}"
expect_status 200
T3=$(printf '%s' "$BODY" | jq -r .data)
communicate "$T3" "$(result_token "$E3" r-3)"
expect_status 200; expect_json .data.status Finished

step "a manager answering null, and one that is gone: 404 and 502, B keeps serving"
python3 - "$E2E_TMP/null_port" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "4"); self.end_headers(); self.wfile.write(b"null")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_port))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY
BG_PIDS+=($!)
wait_until 10 test -s "$E2E_TMP/null_port" || fail "null manager did not start"
C_DATA="$E2E_TMP/data-c"
: >"$E2E_TMP/c.out"
ZMED_PATIENT_MANAGER_HOST="http://127.0.0.1:$(cat "$E2E_TMP/null_port")" "$MEDFLOWD" --port 0 \
  --data-dir "$C_DATA" --set log.level=warn >"$E2E_TMP/c.out" 2>>"$E2E_TMP/medflowd.err" &
BG_PIDS+=($!)
wait_until 30 grep -q "listening on" "$E2E_TMP/c.out" || fail "third medflowd did not start"
MF_URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$E2E_TMP/c.out" | head -n1)
http POST /exam/new '{"document":"11122233344","exam_type":2}'
expect_error 404 "Patient Error" "Patient not found"
MF_URL=$A_URL
stop_medflowd
MF_URL=$B_URL
http POST /exam/new '{"document":"11122233344","exam_type":2}'
expect_error 502 "Patient Manager Error" "Patient manager error"
http GET /healthz; expect_status 200

step "A's data with another KEY_CRYPTO: medflowd refuses to start rather than answer 500s"
rc=0
KEY_CRYPTO=$(printf '%064d' 8) timeout 20 "$MEDFLOWD" --port 0 --data-dir "$E2E_TMP/data" \
  ${STORE_ARGS[@]+"${STORE_ARGS[@]}"} ${BUS_ARGS[@]+"${BUS_ARGS[@]}"} --set log.level=warn >"$E2E_TMP/wrong.out" 2>"$E2E_TMP/wrong.err" || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "medflowd started with another KEY_CRYPTO (rc $rc)"
grep -q "is not the key this database's personal data was sealed with" "$E2E_TMP/wrong.err" ||
  fail "no clear start-up error: $(cat "$E2E_TMP/wrong.err")"
echo "ok"
