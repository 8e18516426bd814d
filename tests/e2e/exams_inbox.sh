#!/usr/bin/env bash
# The exams flow's results inbox and notifications end to end (issue 17): the real medflowd,
# a real SMTP server (aiosmtpd, tests/support/smtp_sink.py) and a real S3 API server (s3rver,
# tests/node_modules). Patients, exams and exam tokens come from the HTTP API; result files are
# written as the exam execution team would (tests/e2e/exam_results.py).
#   1. Local folder: a good, a forged (stuck), a denied (patient inactive) and a deleted
#      (exam revoked) result each end in their folder; the good one's e-mail arrives; a patient
#      with only a verified cellphone gets an SMS from a stand-in gateway (sms_gateway.py),
#      retried after the gateway's 503.
#   2. The same four on s3rver, the bucket and the processed folder's name from ZMED_S3_*.
#   3. kill -9 while 200 result files are processed, again and again until none is left:
#      every file in exactly one final folder, one notification per finished exam, every
#      finished exam's e-mail received.
source "$(dirname "$0")/lib.sh"
kafka_bus_for_store  # E2E_STORE=postgres (its bus is Kafka)

CRYPTO_KEY=$(printf 'a%.0s' $(seq 64))
JWT_KEY=e2e-exam-token-key
RESULT_KEY=e2e-result-token-key
MONTH=$(date -u +%Y_%m)
RESULTS_PY="$SOURCE_DIR/tests/e2e/exam_results.py"

# -- the SMTP server --------------------------------------------------------------------------
start_smtp_sink

# -- the SMS gateway (answers 503 to its first request, then 202) ------------------------------
SMS_DIR="$E2E_TMP/sms"
mkdir -p "$SMS_DIR"
/usr/bin/python3 "$SOURCE_DIR/tests/e2e/sms_gateway.py" --out "$SMS_DIR" --fail-first \
  >"$E2E_TMP/sms.out" 2>"$E2E_TMP/sms.err" &
BG_PIDS+=($!)
wait_until 20 grep -q "listening on" "$E2E_TMP/sms.out" || fail "the SMS gateway did not start"
SMS_URL="http://127.0.0.1:$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$E2E_TMP/sms.out")/sms"

COMMON=(--set exams.crypto_key="$CRYPTO_KEY" --set exams.jwt_key="$JWT_KEY"
        --set exams.result_token_key="$RESULT_KEY"
        --set exams.notify.smtp_host=127.0.0.1 --set exams.notify.smtp_port="$SMTP_PORT"
        --set exams.notify.smtp_tls=none --set exams.notify.from=results@zmed.test
        --set exams.notify.retry_initial_ms=100 --set exams.notify.retry_max_ms=1000
        --set exams.notify.sms_url="$SMS_URL"
        --set exams.inbox.settle_ms=200 --set exams.inbox.rescan_interval_ms=1000)


# new_patient DOCUMENT EMAIL: an active patient with a verified e-mail; sets PATIENT.
new_patient() {
  http POST /patients "{\"document\":\"$1\",\"name\":\"Ana Souza\",\"status\":\"active\",
    \"email\":\"$2\",\"email_verified_at\":\"2026-01-01T00:00:00Z\",\"cellphone\":\"11987654321\"}"
  expect_status 201
  PATIENT=$(printf '%s' "$BODY" | jq -r '.data.id // .id')
}

# four_results DIR_WRITER: registers the four cases and hands each file to `$1 NAME CONTENT`.
four_results() {
  local put=$1 doc=$2
  new_patient "$doc-1" "ana.$doc@example.org"
  started_exam "$doc-1"
  GOOD_EXAM=$EXAM
  $put good.json "$(python3 "$RESULTS_PY" file "$RESULT_KEY" "$TOKEN" "$EXAM" "res-good-$doc")"
  started_exam "$doc-1"
  $put forged.json "$(python3 "$RESULTS_PY" file "$RESULT_KEY" "$TOKEN" "$EXAM" "res-forged-$doc" --forge)"
  started_exam "$doc-1"
  http POST /exam/revoke "{\"document\":\"$doc-1\",\"exam_id\":\"$EXAM\",\"reason\":\"ordered twice\"}"
  expect_status 200
  $put revoked.json "$(python3 "$RESULTS_PY" file "$RESULT_KEY" "$TOKEN" "$EXAM" "res-revoked-$doc")"
  new_patient "$doc-2" "bia.$doc@example.org"
  local p2=$PATIENT
  started_exam "$doc-2"
  http PUT "/patients/$p2" "{\"document\":\"$doc-2\",\"name\":\"Bia Souza\",\"status\":\"inactive\",
    \"email\":\"bia.$doc@example.org\"}"
  expect_status 200
  $put inactive.json "$(python3 "$RESULTS_PY" file "$RESULT_KEY" "$TOKEN" "$EXAM" "res-inactive-$doc")"
}

# ============================================================================================
step "local folder: good, stuck, denied and deleted results"
INBOX="$E2E_TMP/inbox"
start_medflowd "${COMMON[@]}" --set exams.inbox.dir="$INBOX"
four_results put_local local
in_local() { [ -f "$INBOX/$MONTH/$1/$2" ]; }
wait_until 20 in_local processed good.json || fail "good.json not in processed/: $(ls -R "$INBOX")"
wait_until 20 in_local stuck forged.json || fail "forged.json not in stuck/: $(ls -R "$INBOX")"
wait_until 20 in_local deleted revoked.json || fail "revoked.json not in deleted/: $(ls -R "$INBOX")"
wait_until 20 in_local denied inactive.json || fail "inactive.json not in denied/: $(ls -R "$INBOX")"
expect_eq "$(ls -A "$INBOX/$MONTH/completed" | wc -l)" 0 "files left in completed/"
http GET "/exams/info?document=local-1"
expect_json "[.data[] | select(.exam_id == \"$GOOD_EXAM\") | .status] | first" Finished
has_mail() { [ "$(mails_to "ana.local@example.org")" -ge 1 ]; }
wait_until 20 has_mail || fail "no e-mail for the good result"
MAIL=$(grep -l "ana.local@example.org" "$MAIL_DIR"/*.json | head -n1)
grep -q "$GOOD_EXAM" "${MAIL%.json}.eml" || fail "the e-mail does not name the exam"
grep -q '"mail_from": "results@zmed.test"' "$MAIL" || fail "wrong envelope sender: $(cat "$MAIL")"
expect_eq "$(mails_to "bia.local@example.org")" 0 "e-mails for the denied result"

step "local folder: a patient with only a verified cellphone gets an SMS (after one 503)"
http POST /patients '{"document":"sms-1","name":"Caio Lima","status":"active",
  "email":"caio@example.org","cellphone":"21987654321","cellphone_verified_at":"2026-01-01T00:00:00Z"}'
expect_status 201
started_exam sms-1
SMS_EXAM=$EXAM
put_local sms.json "$(python3 "$RESULTS_PY" file "$RESULT_KEY" "$TOKEN" "$EXAM" "res-sms")"
wait_until 20 in_local processed sms.json || fail "sms.json not in processed/"
sms_count() { ls "$SMS_DIR" | grep -c '\.json$' || true; }
two_sms() { [ "$(sms_count)" -ge 2 ]; }
wait_until 20 two_sms || fail "the SMS gateway got $(sms_count) requests, expected 2 (503, then 202)"
SMS_BODY=$(cat "$SMS_DIR/0002.json")
expect_eq "$(printf '%s' "$SMS_BODY" | jq -r .to)" 21987654321 "SMS recipient"
expect_eq "$(printf '%s' "$SMS_BODY" | jq -r .reference)" "$SMS_EXAM" "SMS reference"
cmp -s "$SMS_DIR/0001.json" "$SMS_DIR/0002.json" || fail "the retried SMS differs from the first"
expect_eq "$(mails_to "caio@example.org")" 0 "e-mails to an unverified address"
row() { store_query "SELECT channel, status, attempts FROM exam_notifications WHERE exam_id = '$1'"; }
sms_sent() { [ "$(row "$SMS_EXAM")" = "sms|sent|2" ]; }
wait_until 10 sms_sent || fail "SMS notification row: $(row "$SMS_EXAM")"
sleep 0.5
expect_eq "$(mails_to "ana.local@example.org")" 1 "e-mails for patient local-1 (one finished exam)"
stop_medflowd

# ============================================================================================
step "s3rver: good, stuck, denied and deleted results (ZMED_S3_BUCKET, ZMED_S3_PROCESSED_KEY=done)"
S3_DIR="$E2E_TMP/s3"
mkdir -p "$S3_DIR"
node --openssl-legacy-provider "$SOURCE_DIR/tests/node_modules/s3rver/bin/s3rver.js" \
  -d "$S3_DIR" -a 127.0.0.1 -p 0 --silent --configure-bucket zmed-results \
  >"$E2E_TMP/s3rver.out" 2>"$E2E_TMP/s3rver.err" &
BG_PIDS+=($!)
wait_until 30 grep -q "listening on" "$E2E_TMP/s3rver.out" || fail "s3rver did not start: $(cat "$E2E_TMP/s3rver.err")"
S3_URL="http://127.0.0.1:$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$E2E_TMP/s3rver.out" | head -n1)"
S3_CURL=(curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER
         -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
# s3rver keeps objects as files in directories and removes a directory when its last object is
# deleted: a PUT into completed/ racing medflowd's delete of the object before it (the move of
# good.json) can find its directory gone and get a 500 (lib/stores/filesystem.js, putObject's
# mkdirp then createWriteStream against deleteObject's rmdir). Real S3 has no directories; the
# test's own upload is retried, medflowd's requests are not helped.
put_s3() {
  printf '%s' "$2" >"$E2E_TMP/upload"  # a file: S3 wants a Content-Length, not chunks
  local try
  for try in 1 2 3 4 5; do
    "${S3_CURL[@]}" -S -T "$E2E_TMP/upload" "$S3_URL/zmed-results/$MONTH/completed/$1" \
      >/dev/null 2>"$E2E_TMP/put.err" && return 0
    sleep 0.2
  done
  fail "PUT $1 into s3rver failed 5 times: $(cat "$E2E_TMP/put.err")"
}
s3_keys() {
  "${S3_CURL[@]}" "$S3_URL/zmed-results?list-type=2&prefix=$MONTH/" | grep -o '<Key>[^<]*</Key>' |
    sed 's/<Key>\(.*\)<\/Key>/\1/' || true
}
in_s3() { s3_keys | grep -qx "$MONTH/$1/$2"; }
reset_store
# The reference's environment names: the bucket, and one folder renamed.
ZMED_S3_BUCKET=zmed-results ZMED_S3_PROCESSED_KEY=done start_medflowd "${COMMON[@]}" --set exams.s3.endpoint="$S3_URL" \
  --set exams.s3.access_key=S3RVER --set exams.s3.secret_key=S3RVER \
  --set exams.s3.poll_interval_ms=200
four_results put_s3 s3
wait_until 30 in_s3 done good.json || fail "good.json not in done/ (ZMED_S3_PROCESSED_KEY): $(s3_keys)"
wait_until 30 in_s3 stuck forged.json || fail "forged.json not in stuck/: $(s3_keys)"
wait_until 30 in_s3 deleted revoked.json || fail "revoked.json not in deleted/: $(s3_keys)"
wait_until 30 in_s3 denied inactive.json || fail "inactive.json not in denied/: $(s3_keys)"
expect_eq "$(s3_keys | grep -c "^$MONTH/completed/" || true)" 0 "objects left in completed/"
expect_eq "$(s3_keys | wc -l)" 4 "objects in the bucket (each moved, none copied twice)"
has_mail() { [ "$(mails_to "ana.s3@example.org")" -ge 1 ]; }
wait_until 20 has_mail || fail "no e-mail for the good result on S3"
stop_medflowd

# ============================================================================================
step "kill -9 while 200 result files are processed"
reset_store
rm -rf "$INBOX"
KILL_INBOX="$E2E_TMP/kill_inbox"
ARGS=("${COMMON[@]}" --set exams.inbox.dir="$KILL_INBOX" --set exams.inbox.workers=1)
start_medflowd "${ARGS[@]}"
new_patient kill-1 "kill@example.org"
: >"$E2E_TMP/exams.txt"
for i in $(seq 200); do
  started_exam kill-1
  echo "$EXAM $TOKEN" >>"$E2E_TMP/exams.txt"
done
stop_medflowd
python3 "$RESULTS_PY" bulk "$RESULT_KEY" "$KILL_INBOX/$MONTH/completed" <"$E2E_TMP/exams.txt"
count_in() {
  [ -d "$KILL_INBOX/$MONTH/$1" ] || { echo 0; return; }
  find "$KILL_INBOX/$MONTH/$1" -maxdepth 1 -type f ! -name '.*' | wc -l
}
expect_eq "$(count_in completed)" 200 "result files written"

kills=0
in_the_middle=0
# kill -9 as soon as a run has moved a file (or after 10 s), up to 8 times, then let it finish.
while [ "$(count_in completed)" -gt 0 ] && [ $kills -lt 8 ]; do
  before=$(count_in processed)
  start_medflowd "${ARGS[@]}"
  deadline=$((SECONDS + 10))
  while [ "$(count_in processed)" -eq "$before" ] && [ $SECONDS -lt $deadline ]; do :; done
  kill9_medflowd
  kills=$((kills + 1))
  left=$(count_in completed)
  [ "$left" -gt 0 ] && [ "$(count_in processed)" -gt 0 ] && in_the_middle=$((in_the_middle + 1))
  echo "   kill $kills: $(count_in processed) processed, $left left in completed/"
done
[ "$in_the_middle" -ge 1 ] || fail "no kill -9 landed in the middle of the 200 files"
start_medflowd "${ARGS[@]}"
none_left() { [ "$(count_in completed)" -eq 0 ]; }
wait_until 60 none_left || fail "$(count_in completed) files left in completed/ after $kills kills"
# Every file in exactly one final folder.
all=$(find "$KILL_INBOX/$MONTH" -mindepth 2 -maxdepth 2 -type f ! -name '.*' ! -path '*/completed/*' \
  -printf '%f\n' | sort)
expect_eq "$(printf '%s\n' "$all" | wc -l)" 200 "files in the final folders"
expect_eq "$(printf '%s\n' "$all" | sort -u | wc -l)" 200 "distinct files in the final folders"
expect_eq "$(count_in processed)" 200 "files in processed/"

# Notifications: one per finished exam, each e-mail received (at least once: a kill between
# the SMTP server's answer and its record may send one again).
all_sent() { [ "$(store_query "SELECT COUNT(*) FROM exam_notifications WHERE status = 'sent'")" = 200 ]; }
wait_until 60 all_sent || fail "notifications not all sent: $(store_query "SELECT status, COUNT(*) FROM exam_notifications GROUP BY status")"
expect_eq "$(store_query "SELECT COUNT(*) || '/' || COUNT(DISTINCT exam_id) FROM exam_notifications")" "200/200" \
  "notification rows / distinct exams"
finished=$(cut -d' ' -f1 "$E2E_TMP/exams.txt" | sort)
notified=$(store_query "SELECT exam_id FROM exam_notifications" | sort)
[ "$finished" = "$notified" ] || fail "the notified exams are not the finished ones"
received=0
for e in $(cut -d' ' -f1 "$E2E_TMP/exams.txt"); do
  grep -lq "$e" "$MAIL_DIR"/*.eml && received=$((received + 1))
done
expect_eq "$received" 200 "finished exams whose e-mail arrived"
total=$(mails_to "kill@example.org")
[ $((total - 200)) -le $kills ] || fail "$total e-mails for 200 exams after $kills kills"
# A repeat carries its first sending's Message-ID: one message per exam for the receiver.
ids=$(for j in $(grep -l '"kill@example.org"' "$MAIL_DIR"/*.json); do
        grep -m1 -i '^Message-ID:' "${j%.json}.eml"; done | sort -u | wc -l)
expect_eq "$ids" 200 "distinct Message-IDs of the e-mails for 200 exams"
echo "   $kills kills ($in_the_middle in the middle of the files), $total e-mails for 200 exams, $ids Message-IDs"
stop_medflowd
echo "PASS exams_inbox"
