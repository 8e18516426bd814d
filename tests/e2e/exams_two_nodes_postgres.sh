#!/usr/bin/env bash
# Issue 18, work that must run once: two medflowd on ONE PostgreSQL and one results inbox (a
# directory both watch), a real SMTP server (aiosmtpd). Result files arrive for 30 exams of 30
# patients: each file is handled by one node (the node holding the scanner's store lease
# "exams.inbox"; the other one's scanner stays idle) and each finished exam's e-mail is sent
# once (a notification is claimed by one sender). Then the node holding the lease is killed -9
# and 10 more results arrive: the other node takes the lease over once it expired
# (store.lease_ms) and handles them, each e-mail again sent once. Skipped (77) without
# PostgreSQL.
E2E_STORE=postgres
source "$(dirname "$0")/lib.sh"
CLEANUP_HOOKS+=('[ $rc -eq 0 ] || tail -n 15 "$E2E_TMP"/node*.err >&2 2>/dev/null')
start_kafka_mock "${ME_TOPICS[@]}"

RESULT_KEY=e2e-result-token-key
MONTH=$(date -u +%Y_%m)
RESULTS_PY="$SOURCE_DIR/tests/e2e/exam_results.py"
start_smtp_sink

INBOX="$E2E_TMP/inbox"
# One deployment: the same keys, store, inbox and SMTP server for both nodes.
NODE_ARGS=(--kafka-brokers "$KAFKA_BROKERS"
           --set exams.crypto_key="$(printf 'a%.0s' $(seq 64))" --set exams.jwt_key=e2e-exam-token-key
           --set exams.result_token_key="$RESULT_KEY"
           --set exams.notify.smtp_host=127.0.0.1 --set exams.notify.smtp_port="$SMTP_PORT"
           --set exams.notify.smtp_tls=none --set exams.notify.from=results@zmed.test
           --set exams.inbox.dir="$INBOX" --set exams.inbox.settle_ms=200
           --set exams.inbox.rescan_interval_ms=500 --set store.lease_ms=1500)

mail_count() { find "$MAIL_DIR" -name '*.json' | wc -l; }
new_patient() {
  http POST /patients "{\"document\":\"$1\",\"name\":\"Ana Souza\",\"status\":\"active\",
    \"email\":\"$2\",\"email_verified_at\":\"2026-01-01T00:00:00Z\"}"
  expect_status 201
}
processed() { find "$INBOX/$MONTH/processed" -maxdepth 1 -type f 2>/dev/null | wc -l; }
moved() {
  curl -s "${NODE_URLS[$1]}/metrics" |
    sed -n 's/^medflow_exam_result_files_moved_total{folder="processed"} \([0-9]*\).*/\1/p'
}
# results FROM TO: patients FROM..TO, one started exam each, its result file in the inbox.
results() {
  local i
  for i in $(seq "$1" "$2"); do
    new_patient "two-$i" "p$i@example.org"
    started_exam "two-$i"
    put_local "r$i.json" "$(python3 "$RESULTS_PY" file "$RESULT_KEY" "$TOKEN" "$EXAM" "res-$i")"
  done
}
# each_mail_once FROM TO: every patient of the range got exactly one e-mail.
each_mail_once() {
  local i n
  for i in $(seq "$1" "$2"); do
    n=$(mails_to "p$i@example.org")
    [ "$n" = 1 ] || fail "patient two-$i got $n e-mails"
  done
}

step "two nodes on one store and one inbox"
start_node 1 "${NODE_ARGS[@]}"
start_node 2 "${NODE_ARGS[@]}"
MF_URL=${NODE_URLS[1]}
results 1 30
all_processed() { [ "$(processed)" -ge "$1" ]; }
wait_until 60 all_processed 30 || fail "$(processed) of 30 results processed"
all_mails() { [ "$(mail_count)" -ge "$1" ]; }
wait_until 30 all_mails 30 || fail "$(mail_count) of 30 e-mails arrived"
sleep 1  # a second sending would show up by now
expect_eq "$(mail_count)" 30 "e-mails"
each_mail_once 1 30
expect_eq "$(pg_query "SELECT count(*) FROM exam_notifications WHERE status = 'sent' AND attempts = 1")" 30 \
  "notifications sent at the first attempt"
lease_pair exams.inbox
echo "node $holder scanned (moved $(moved $holder)), node $other moved $(moved $other)"
expect_eq "$(moved $holder)" 30 "files moved by the lease holder"
expect_eq "$(moved $other)" 0 "files moved by the other node"

step "kill -9 the node holding the scanner's lease: the other takes over after the lease"
kill -9 "${NODE_PIDS[$holder]}"
wait "${NODE_PIDS[$holder]}" 2>/dev/null || true
MF_URL=${NODE_URLS[$other]}
results 31 40
wait_until 60 all_processed 40 || fail "$(processed) of 40 results processed after the kill"
wait_until 30 all_mails 40 || fail "$(mail_count) of 40 e-mails arrived"
sleep 1
expect_eq "$(mail_count)" 40 "e-mails"
each_mail_once 31 40
expect_eq "$(lease_node exams.inbox)" "$other" "the node holding the scanner's lease"
expect_eq "$(moved $other)" 10 "files moved by the node that took over"
echo "PASS $TEST_NAME"
