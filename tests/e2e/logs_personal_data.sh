#!/usr/bin/env bash
# No personal data at info or above (issue 19): runs the end-to-end tests of the flows that
# handle it (medical events, exams with the results inbox and notifications, HRI batches) with
# log.format=json, log.access=true and log.level=info, keeping every log line and every request
# they sent; then every line must be a JSON object (jq) with time, level, component and message,
# and none may hold a personal value that was sent: a patient id (in a path), a document, a
# name, an e-mail address, a phone number, a token.
source "$(dirname "$0")/lib.sh"

LOGS="$E2E_TMP/all.log"
SENT="$E2E_TMP/sent.jsonl"
: >"$LOGS"
: >"$SENT"

for t in medical_events_api exams_api exams_inbox hri_batches hri_tokens; do
  step "$t with log.format=json, log.access=true, log.level=info"
  E2E_LOG_LEVEL=info MEDFLOW_LOG_FORMAT=json MEDFLOW_LOG_ACCESS=true E2E_LOG_KEEP="$LOGS" \
    E2E_SENT="$SENT" bash "$SOURCE_DIR/tests/e2e/$t.sh" >"$E2E_TMP/$t.out" 2>&1 ||
    { tail -n 30 "$E2E_TMP/$t.out"; fail "$t failed under these settings"; }
done

step "every log line is a JSON object with time (RFC 3339 UTC, ms), level, component, message"
lines=$(wc -l <"$LOGS")
[ "$lines" -ge 100 ] || fail "only $lines log lines: the flows did not log at info"
jq -e -c 'select((.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"))
               and (.level | IN("debug", "info", "warn", "error"))
               and (.component | type == "string") and (.message | type == "string") | not)' \
  "$LOGS" >"$E2E_TMP/bad_lines" 2>"$E2E_TMP/jq.err" ||
  true
[ ! -s "$E2E_TMP/jq.err" ] || fail "a log line is not JSON: $(head -c 300 "$E2E_TMP/jq.err")"
[ ! -s "$E2E_TMP/bad_lines" ] || fail "log lines without the required keys: $(head -n 3 "$E2E_TMP/bad_lines")"
access=$(jq -c 'select(.component == "access")' "$LOGS" | wc -l)
echo "$lines lines, $access access lines"
[ "$access" -ge 50 ] || fail "only $access access log lines"
jq -e -s 'map(select(.component == "access")) | all(has("method") and has("path") and has("status")
  and has("bytes") and has("duration_ms") and has("request_id"))' "$LOGS" >/dev/null ||
  fail "access lines without their fields"
jq -e -s 'any(.request_id? // "-" | . != "-")' "$LOGS" >/dev/null || fail "no line has a request id"

step "the personal values sent"
# From request bodies: the values of personal fields; from paths: the ids after /patients/
# and /persons/; from query strings: document=; from headers: bearer tokens.
# A "name" is a person's only in a patient's or person's body (elsewhere: topics, batches).
jq -r '
  def personal: ["document", "email", "cellphone", "phone", "first_name", "last_name",
                 "second_name", "birth_date", "tax_id", "phone_number", "token", "exam_token",
                 "result_token"]
    + (if (.path | test("^/(patients|admin/persons)")) then ["name"] else [] end);
  . as $req
  | ($req | personal) as $keys
  | ($req.body | (try fromjson catch null) | select(. != null)
     | [paths(scalars) as $p | select(($p[-1] | type) == "string" and ($p[-1] | IN($keys[])))
        | getpath($p) | tostring][]),
  ($req.path | (capture("/(patients|persons)/(?<id>[^/?]+)")? | .id)),
  ($req.path | (capture("[?&]document=(?<d>[^&]+)")? | .d)),
  ($req.args[] | (capture("^Authorization: Bearer (?<t>.+)$")? | .t))
' "$SENT" | awk 'length($0) >= 6' | sort -u >"$E2E_TMP/personal"
n=$(wc -l <"$E2E_TMP/personal")
echo "$n distinct personal values sent ($(wc -l <"$SENT") requests)"
for kind in '@' '^eyJ' '^[0-9a-f]{8}-[0-9a-f]{4}-' '^[0-9]{10,}$'; do
  grep -Eq "$kind" "$E2E_TMP/personal" || fail "no sent value matches $kind: the capture missed a kind"
done

step "control: the search finds a personal value planted in a copy of the log"
for kind in '@' '^eyJ'; do
  v=$(grep -m1 -E -- "$kind" "$E2E_TMP/personal" || true)
  [ -n "$v" ] || fail "control: no personal value matching $kind was collected from the requests"
  { cat "$LOGS"; jq -cn --arg v "$v" '{message: ("planted " + $v)}'; } >"$E2E_TMP/planted.log"
  grep -qF -f "$E2E_TMP/personal" "$E2E_TMP/planted.log" || fail "control: $v planted, not found"
done

step "none of them in the log"
found=$(grep -F -f "$E2E_TMP/personal" "$LOGS" | head -n 5 || true)
if [ -n "$found" ]; then
  echo "$found"
  hit=$(while read -r v; do grep -qF -- "$v" "$LOGS" && echo "$v"; done <"$E2E_TMP/personal" | head -n 5)
  fail "personal data in the log: $hit"
fi
echo "no personal value in $lines log lines"
