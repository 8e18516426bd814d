# Helpers for end-to-end tests: start the real medflowd on a free port with a temporary data
# directory, call it with curl, assert on JSON with jq. Source it; it cleans up on exit.
set -euo pipefail

: "${MEDFLOWD:?MEDFLOWD must point at the medflowd binary}"
: "${TOOLS_DIR:=$(dirname "$MEDFLOWD")/tests}"
: "${SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/medflow-e2e.XXXXXX")
MF_PID=""
MF_URL=""
BG_PIDS=()
CLEANUP_HOOKS=()  # commands run at exit once the processes are gone (e.g. an umount)
TEST_NAME=$(basename "$0" .sh)

cleanup() {
  local rc=$?
  for p in $MF_PID "${BG_PIDS[@]}"; do
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  for h in "${CLEANUP_HOOKS[@]}"; do eval "$h" || true; done
  if [ $rc -ne 0 ] && [ -f "$E2E_TMP/medflowd.err" ]; then
    echo "--- medflowd stderr (last 40 lines) ---"
    tail -n 40 "$E2E_TMP/medflowd.err"
  fi
  rm -rf "$E2E_TMP"
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL [$TEST_NAME]: $*" >&2; exit 1; }
step() { echo "== $*"; }

# start_medflowd [args...]: data in $E2E_TMP/data unless --data-dir is given.
start_medflowd() {
  : >"$E2E_TMP/medflowd.out"
  "$MEDFLOWD" --port 0 --data-dir "$E2E_TMP/data" --set log.level=${E2E_LOG_LEVEL:-warn} \
    --set supervisor.backoff_initial_ms=20 --set supervisor.backoff_max_ms=200 "$@" \
    >"$E2E_TMP/medflowd.out" 2>>"$E2E_TMP/medflowd.err" &
  MF_PID=$!
  local deadline=$((SECONDS + 30))
  while ! grep -q "listening on" "$E2E_TMP/medflowd.out" 2>/dev/null; do
    kill -0 "$MF_PID" 2>/dev/null || { cat "$E2E_TMP/medflowd.err" >&2; fail "medflowd exited at start-up"; }
    [ $SECONDS -lt $deadline ] || fail "medflowd did not start within 30 s"
    sleep 0.05
  done
  MF_URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$E2E_TMP/medflowd.out" | head -n1)
}

# stop_medflowd: SIGTERM, and it must exit 0, within STOP_LIMIT seconds (default 10).
stop_medflowd() {
  local started=$SECONDS rc=0 limit=${STOP_LIMIT:-10}
  kill -TERM "$MF_PID"
  while kill -0 "$MF_PID" 2>/dev/null && [ $((SECONDS - started)) -le "$limit" ]; do sleep 0.1; done
  if kill -0 "$MF_PID" 2>/dev/null; then
    kill -9 "$MF_PID"
    wait "$MF_PID" 2>/dev/null || true
    MF_PID=""
    fail "medflowd did not stop within $limit s after SIGTERM"
  fi
  wait "$MF_PID" || rc=$?
  MF_PID=""
  [ $rc -eq 0 ] || fail "medflowd exited with $rc after SIGTERM"
  [ $((SECONDS - started)) -le "${STOP_LIMIT:-10}" ] ||
    fail "medflowd took $((SECONDS - started)) s to stop after SIGTERM"
}

kill9_medflowd() {
  kill -9 "$MF_PID" 2>/dev/null || true
  wait "$MF_PID" 2>/dev/null || true
  MF_PID=""
}

# http METHOD PATH [BODY] [extra curl args...]: sets STATUS and BODY.
http() {
  local method=$1 path=$2 body=${3:-}
  shift 3 2>/dev/null || shift $#
  local args=(-s -o "$E2E_TMP/body" -w '%{http_code}' -X "$method" "$MF_URL$path")
  # No body, no Content-Length (as `curl -X POST` sends it): medflowd reads an empty body.
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  STATUS=$(curl "${args[@]}" "$@")
  BODY=$(cat "$E2E_TMP/body")
}

expect_status() {
  [ "$STATUS" = "$1" ] || fail "expected HTTP $1, got $STATUS: $BODY"
}

# expect_json JQ_FILTER EXPECTED: the filter applied to BODY must print EXPECTED.
expect_json() {
  local got
  got=$(printf '%s' "$BODY" | jq -c -r "$1" 2>/dev/null) || fail "body is not JSON: $BODY"
  [ "$got" = "$2" ] || fail "jq '$1': expected '$2', got '$got' (body: $BODY)"
}

expect_eq() {
  [ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

# wait_until SECONDS COMMAND...: polls until the command succeeds.
wait_until() {
  local limit=$1
  shift
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}

# start_kafka_mock TOPIC:PARTITIONS...: a librdkafka mock cluster (the real Kafka protocol on
# loopback) in the background; sets KAFKA_BROKERS.
start_kafka_mock() {
  "$TOOLS_DIR/kafka_mock" "$@" >"$E2E_TMP/kafka_mock.out" 2>"$E2E_TMP/kafka_mock.err" &
  BG_PIDS+=($!)
  wait_until 60 grep -q . "$E2E_TMP/kafka_mock.out" || fail "kafka_mock did not start"
  KAFKA_BROKERS=$(head -n1 "$E2E_TMP/kafka_mock.out")
}

# The medical events flow's topics, for a Kafka mock cluster (which cannot create topics).
ME_TOPICS=(medical_events:8 medical_events.dead_letter:1 person_events:1
           person_events.dead_letter:1 event_manager_topic:1 medical_events.notifications:1)
# The resource event topics of the shipped mapping (config/events.json, events.partitions=1):
# the medical events flow publishes its changes there (events.enabled, on by default).
mapfile -t EVENT_TOPICS < <(jq -r '.resources | to_entries[] | select(.key | startswith("_") | not)
  | .value as $v | ([$v.profile] + ($v.aliases // [])
  + ([($v.elements // {}), ($v.contexts // {})] | map(keys[] | select(startswith("_") | not)
     | $v.profile + "." + .)))[] + ":1"' "$SOURCE_DIR/config/events.json")
ME_TOPICS+=("${EVENT_TOPICS[@]}")

# Medical events API helpers; the caller sets HDRS (x-consumer-id, x-consumer-metadata).
api() { http "$1" "$2" "${3:-}" "${HDRS[@]}"; }
# job_of: the job id from the links of the 202 in BODY.
job_of() { printf '%s' "$BODY" | jq -r '.data.links[0].href | sub("/jobs/"; "")'; }
job_done() { api GET "/api/jobs/$1"; [ "$(printf '%s' "$BODY" | jq -r .data.status)" != pending ]; }
# wait_job ID [SECONDS]: polls until the job is no longer pending; sets STATUS/BODY to its view.
wait_job() { wait_until "${2:-20}" job_done "$1" || fail "job $1 still pending after ${2:-20} s"; }
