#!/usr/bin/env bash
# The README's first run, as a new user types it (issue 19): the "Try it" block runs as written
# against a real medflowd and its last command prints the record written (it reads the
# partition the write's answer names), and the development token example beside the two
# commands gets a tenant created on /hri.
source "$(dirname "$0")/lib.sh"
: "${MEDFLOW_TOKEN:=$(dirname "$MEDFLOWD")/medflow-token}"

README="$SOURCE_DIR/README.md"
# block AFTER_LINE_REGEX: the first ```sh block after a line matching the regex.
block() { awk -v re="$1" '$0 ~ re {f = 1} f && /^```sh/ {g = 1; next} g && /^```/ {exit} g' "$README"; }

step "Try it"
try=$(block '^Try it:')
[ -n "$try" ] || fail "no Try it block in README.md"
start_medflowd
hostport=${MF_URL#http://}
out=$(bash -euo pipefail -c "${try//localhost:8080/$hostport}") || fail "the Try it block failed: $out"
printf '%s\n' "$out"
printf '%s' "$out" | tail -n1 | jq -e '.records | length == 1 and .[0].key == "patient-1"
  and .[0].value == {"hello": "world"}' >/dev/null ||
  fail "the last command of Try it does not print the record written: $(printf '%s' "$out" | tail -n1)"
stop_medflowd

step "the development token example"
dev=$(block 'mint a token with `medflow-token`')
[ -n "$dev" ] || fail "no token example in README.md"
run_line=$(printf '%s\n' "$dev" | grep '^bash scripts/run.sh ')
read -r -a run_args <<<"${run_line#bash scripts/run.sh }"
start_medflowd "${run_args[@]}"
rest=$(printf '%s\n' "$dev" | grep -v '^bash scripts/run.sh ')
rest=${rest//build\/medflow-token/$MEDFLOW_TOKEN}
rest=${rest//localhost:8080/${MF_URL#http://}}
out=$(bash -euo pipefail -c "$rest") || fail "the token example failed: $out"
printf '%s' "$out" | jq -e '.tenantId == "t1"' >/dev/null ||
  fail "the token example did not create the tenant: $out"
echo "readme_first_run: ok"
