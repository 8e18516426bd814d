#!/usr/bin/env bash
# `medflowd selector '<selector>' '<properties>'` on the real binary: true, false and unknown on
# stdout with exit 0; an invalid selector, invalid properties or a wrong argument count on stderr
# with exit 2. No daemon is started.
source "$(dirname "$0")/lib.sh"

# selector SELECTOR PROPERTIES: sets RC, OUT and ERR.
selector() {
  RC=0
  "$MEDFLOWD" selector "$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err" || RC=$?
  OUT=$(cat "$E2E_TMP/out")
  ERR=$(cat "$E2E_TMP/err")
}

EVENT='{"messageType": "EHealthSimpleEvent", "messageVersion": "1.0", "eventType": "created",
        "resourceProfile": "ehealth-careplan",
        "patientReference": "https://patient.local.ehealth.sundhed.dk/fhir/Patient/5508"}'

step "a matching selector prints true, exit 0"
selector "eventType = 'created' AND resourceProfile IN ('ehealth-careplan','ehealth-episodeofcare')" "$EVENT"
expect_eq "$RC" 0 "exit code"
expect_eq "$OUT" true "stdout"
expect_eq "$ERR" "" "stderr"

step "a selector that does not match prints false, exit 0"
selector "patientReference IS NULL OR messageVersion = 1.0" "$EVENT"
expect_eq "$RC" 0 "exit code"
expect_eq "$OUT" false "stdout"

step "a missing property makes the comparison unknown, exit 0"
selector "resourceElement <> 'subject'" "$EVENT"
expect_eq "$RC" 0 "exit code"
expect_eq "$OUT" unknown "stdout"

step "an invalid selector: the error with its column on stderr, exit 2"
selector "(eventType = 'created'" "$EVENT"
expect_eq "$RC" 2 "exit code"
expect_eq "$OUT" "" "stdout"
expect_eq "$ERR" \
  "medflowd selector: invalid selector: expected AND, OR or ')' at column 23, found end of text" \
  "stderr"

step "invalid properties: exit 2"
selector "eventType = 'created'" '{"eventType": ["created"]}'
expect_eq "$RC" 2 "exit code"
expect_eq "$OUT" "" "stdout"
case "$ERR" in
  *"property 'eventType' is an array"*) ;;
  *) fail "stderr: $ERR" ;;
esac

step "a wrong argument count prints the usage, exit 2"
selector "eventType = 'created'"
expect_eq "$RC" 2 "exit code"
case "$ERR" in
  "usage: medflowd selector '<selector>' '<properties as a JSON object>'"*) ;;
  *) fail "stderr: $ERR" ;;
esac
selector "a = 1" "{}" extra
expect_eq "$RC" 2 "exit code with an extra argument"

echo "PASS $TEST_NAME"
