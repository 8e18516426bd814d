#!/usr/bin/env bash
# medflowd run the way a service manager runs it (README "Install and run as a service"):
# sd_notify to a NOTIFY_SOCKET listener (READY=1 with MAINPID, WATCHDOG=1, STOPPING=1); SIGHUP
# re-reads the log level and never kills; SIGTERM turns /readyz 503 first, lets a slow request
# in flight finish and exits 0 within shutdown.timeout_ms, and past it exits anyway (1) with a
# log line; a secret from <key>_file (trimmed, never logged) and --print-config redacting it;
# bus.kafka.properties librdkafka refuses stop start-up naming the property, good ones start.
source "$(dirname "$0")/lib.sh"
: "${MEDFLOW_TOKEN:=$(dirname "$MEDFLOWD")/medflow-token}"
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

step "a NOTIFY_SOCKET listener receives READY=1 (with MAINPID), then WATCHDOG=1 every half WATCHDOG_USEC"
python3 "$SOURCE_DIR/tests/e2e/notify_listener.py" "$E2E_TMP/notify.sock" >"$E2E_TMP/notify.out" &
BG_PIDS+=($!)
wait_until 10 grep -q listening "$E2E_TMP/notify.out" || fail "the notify listener did not start"
echo '{"log": {"level": "warn"}}' >"$E2E_TMP/medflow.json"
SECRET_FILE=$E2E_TMP/hs256.secret
printf 'e2e-secret-from-a-file\n' >"$SECRET_FILE"
NOTIFY_SOCKET=$E2E_TMP/notify.sock WATCHDOG_USEC=200000 E2E_LOG_LEVEL=config \
  start_medflowd --config "$E2E_TMP/medflow.json" --set hri.auth.hs256_secret_file="$SECRET_FILE" \
  --set shutdown.timeout_ms=10000 --set shutdown.unready_ms=1500
wait_until 10 grep -qx 'READY=1' "$E2E_TMP/notify.out" || fail "no READY=1 after start-up"
grep -qx "MAINPID=$MF_PID" "$E2E_TMP/notify.out" || fail "READY=1 came without MAINPID=$MF_PID"
before=$(grep -cx 'WATCHDOG=1' "$E2E_TMP/notify.out" || true)
sleep 1
after=$(grep -cx 'WATCHDOG=1' "$E2E_TMP/notify.out" || true)
# Every 100 ms: about 10 in a second; 5 leaves room for a loaded machine.
[ $((after - before)) -ge 5 ] || fail "only $((after - before)) WATCHDOG=1 in 1 s (WATCHDOG_USEC=200000)"

step "the secret came from the file with its newline trimmed, and is not in the log"
tok() { "$MEDFLOW_TOKEN" --secret "$1" --sub reader --scope "tenant_t1 hri_consumer"; }
http GET /hri/tenants/t1/batches "" -H "Authorization: Bearer $(tok e2e-secret-from-a-file)"
[ "$STATUS" != 401 ] || fail "a token signed with the file's secret was refused: $BODY"
http GET /hri/tenants/t1/batches "" -H "Authorization: Bearer $(tok wrong-secret)"
expect_status 401
! grep -q "e2e-secret-from-a-file" "$E2E_TMP/medflowd.err" "$E2E_TMP/medflowd.out" ||
  fail "the secret is in medflowd's output"

step "--print-config prints the effective configuration with the secret redacted"
"$MEDFLOWD" --config "$E2E_TMP/medflow.json" --port 9999 --set hri.auth.hs256_secret_file="$SECRET_FILE" \
  --set bus.kafka.properties.sasl.password=kafka-pw --print-config >"$E2E_TMP/effective.json"
grep -q '"port": 9999' "$E2E_TMP/effective.json" || fail "--print-config lacks the flag's port"
grep -q '"level": "warn"' "$E2E_TMP/effective.json" || fail "--print-config lacks the file's log.level"
grep -q '"hs256_secret": "<redacted>"' "$E2E_TMP/effective.json" || fail "the secret is not redacted"
grep -q '"sasl.password":"<redacted>"' "$E2E_TMP/effective.json" || fail "sasl.password is not redacted"
! grep -q 'e2e-secret-from-a-file\|kafka-pw' "$E2E_TMP/effective.json" || fail "a secret is printed"
"$MEDFLOWD" --print-default-config | cmp -s - "$SOURCE_DIR/config/medflow.json" ||
  fail "--print-default-config is not config/medflow.json"

step "SIGHUP re-reads log.level from the file and keeps serving; a broken file changes nothing"
echo '{"log": {"level": "info"}}' >"$E2E_TMP/medflow.json"
kill -HUP "$MF_PID"
# Logged at info: visible only because the level went from warn to info.
wait_until 5 grep -q "SIGHUP: configuration re-read, log.level info" "$E2E_TMP/medflowd.err" ||
  fail "no reload line after SIGHUP"
grep -q "no log file to reopen" "$E2E_TMP/medflowd.err" || fail "SIGHUP does not say what it reopened"
kill -0 "$MF_PID" || fail "SIGHUP stopped medflowd"
http GET /healthz; expect_status 200
echo '{"log": {"level": "loud"}}' >"$E2E_TMP/medflow.json"
kill -HUP "$MF_PID"
wait_until 5 grep -q "SIGHUP: configuration not reloaded" "$E2E_TMP/medflowd.err" ||
  fail "no error line after SIGHUP with a broken file"
http GET /healthz; expect_status 200

step "SIGTERM: /readyz 503 at once, a slow request in flight finishes, STOPPING=1, exit 0 in time"
http POST /subscriptions '{"topic":"service-e2e"}'; expect_status 201
SUB=$(printf '%s' "$BODY" | jq -r .id)
slow_t0=$(date +%s%N)
curl -s -o "$E2E_TMP/slow.body" -w '%{http_code}' "$MF_URL/subscriptions/$SUB/events?wait_ms=3000" \
  >"$E2E_TMP/slow.status" &
SLOW=$!
sleep 0.3
term_t0=$(date +%s%N)
kill -TERM "$MF_PID"
sleep 0.2
http GET /readyz; expect_status 503
expect_json '[.checks[] | select(.name == "shutdown") | .ok]' '[false]'
http GET /healthz; expect_status 200  # still serving while load balancers take it out
wait "$SLOW" || fail "curl of the slow request failed"
slow_ms=$(ms_since "$slow_t0")
[ "$(cat "$E2E_TMP/slow.status")" = 200 ] || fail "the request in flight got $(cat "$E2E_TMP/slow.status")"
[ "$(jq '.events | length' "$E2E_TMP/slow.body")" = 0 ] || fail "slow request: $(cat "$E2E_TMP/slow.body")"
[ "$slow_ms" -ge 2800 ] || fail "the request in flight was cut short (${slow_ms} ms of its 3000)"
rc=0
wait "$MF_PID" || rc=$?
stop_ms=$(ms_since "$term_t0")
MF_PID=""
[ $rc -eq 0 ] || fail "medflowd exited with $rc after SIGTERM"
[ "$stop_ms" -lt 10000 ] || fail "stopping took ${stop_ms} ms, beyond shutdown.timeout_ms=10000"
echo "   slow request answered after ${slow_ms} ms; medflowd exited ${stop_ms} ms after SIGTERM"
order=$(grep -E '^(READY|STOPPING)=1$' "$E2E_TMP/notify.out" | tr '\n' ' ')
expect_eq "$order" "READY=1 STOPPING=1 " "notifications"

step "past shutdown.timeout_ms medflowd exits anyway, with status 1 and a log line"
# unready_ms = timeout_ms: the drains have no time left, so the deadline passes by design.
start_medflowd --set shutdown.timeout_ms=500 --set shutdown.unready_ms=500
term_t0=$(date +%s%N)
kill -TERM "$MF_PID"
rc=0
wait "$MF_PID" || rc=$?
stop_ms=$(ms_since "$term_t0")
MF_PID=""
expect_eq "$rc" 1 "exit status past the shutdown deadline"
grep -q "shutdown did not finish within shutdown.timeout_ms (500 ms); exiting anyway" \
  "$E2E_TMP/medflowd.err" || fail "no log line for the exit past the deadline"
[ "$stop_ms" -lt 2000 ] || fail "exit ${stop_ms} ms after SIGTERM with shutdown.timeout_ms=500"

step "bus.kafka.properties: a property librdkafka refuses stops start-up (exit 2) naming it"
refused() {  # expected-text args...
  local want=$1 rc=0
  shift
  "$MEDFLOWD" --port 0 --data-dir "$E2E_TMP/refused" --kafka-brokers 127.0.0.1:9 "$@" \
    >"$E2E_TMP/refused.out" 2>"$E2E_TMP/refused.err" || rc=$?
  expect_eq "$rc" 2 "exit status with $*"
  grep -qF "$want" "$E2E_TMP/refused.err" || fail "expected '$want', got: $(cat "$E2E_TMP/refused.err")"
  [ ! -e "$E2E_TMP/refused/medflow.db" ] || fail "the store was opened before the properties were checked"
}
refused 'bus.kafka.properties.no.such.property: No such configuration property: "no.such.property"' \
  --set bus.kafka.properties.no.such.property=1
MEDFLOW_BUS_KAFKA_PROPERTIES='{"security.protocol": "carrier-pigeon"}' \
  refused 'bus.kafka.properties.security.protocol: Invalid value "carrier-pigeon"'
refused 'bus.kafka.properties.group.id: set by medflowd (use bus.kafka.group_id)' \
  --set bus.kafka.properties.group.id=other

step "valid properties start medflowd on Kafka (librdkafka's mock cluster)"
start_kafka_mock "${ME_TOPICS[@]}"
start_medflowd --kafka-brokers "$KAFKA_BROKERS" --set bus.kafka.properties.client.rack=rack-e2e \
  --set bus.kafka.properties.socket.keepalive.enable=true
http GET /readyz; expect_status 200
stop_medflowd
echo "PASS"
