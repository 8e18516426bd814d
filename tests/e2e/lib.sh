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
  # E2E_LOG_KEEP: a file that gets medflowd's log (stderr) of this test (logs_personal_data.sh).
  if [ -n "${E2E_LOG_KEEP:-}" ] && [ -f "$E2E_TMP/medflowd.err" ]; then
    cat "$E2E_TMP/medflowd.err" >>"$E2E_LOG_KEEP"
  fi
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

# E2E_STORE=postgres: the script's medflowd keeps its state on a PostgreSQL server of its own
# (tests/support/postgres.sh, started here, torn down at exit; the URL passed in a file) and
# needs a Kafka bus (start_kafka_mock, or kafka_bus_for_store). The flows whose stores do not
# run on PostgreSQL yet are switched off (PG_OFF_FLOWS; every flow's store runs on it now).
# Otherwise SQLite in the data directory, as always.
STORE_ARGS=()
BUS_ARGS=()
PG_OFF_FLOWS=()
if [ "${E2E_STORE:-sqlite}" = postgres ]; then
  source "$SOURCE_DIR/tests/support/postgres.sh"
  if ! postgres_bin_dir >/dev/null && [ -z "${MEDFLOW_REQUIRE_POSTGRES:-}" ]; then
    echo "skipped: PostgreSQL is not installed"
    exit 77
  fi
  start_postgres "$(mktemp -d "${TMPDIR:-/tmp}/medflow-e2e-pg.XXXXXX")" || fail "PostgreSQL did not start"
  CLEANUP_HOOKS+=(stop_postgres)
  "$MEDFLOW_PG_BIN/psql" -q -v ON_ERROR_STOP=1 "$MEDFLOW_TEST_PG_URL" -c "CREATE DATABASE medflow" \
    || fail "cannot create the database"
  # With a password (the server trusts loopback and never asks for it): no log may show it.
  PG_SECRET=e2e-pg-secret
  echo "${MEDFLOW_TEST_PG_URL%/*}/medflow" | sed "s|://postgres@|://postgres:$PG_SECRET@|" >"$E2E_TMP/pg.url"
  STORE_ARGS=(--set store.backend=postgres --set "store.postgres.url_file=$E2E_TMP/pg.url")
  for f in ${PG_OFF_FLOWS[@]+"${PG_OFF_FLOWS[@]}"}; do STORE_ARGS+=(--set "$f.enabled=false"); done
fi

# pg_query SQL: one value from the PostgreSQL store (E2E_STORE=postgres).
pg_query() { "$MEDFLOW_PG_BIN/psql" -At "$(cat "$E2E_TMP/pg.url")" -c "$1"; }
# wait_outbox_relayed SECONDS: until the shared store's Kafka outbox is empty (the relay, one
# instance at a time under its lease, forwarded every row; after a kill -9 of the holder another
# instance takes the lease over store.lease_ms later).
wait_outbox_relayed() {
  outbox_empty() { [ "$(pg_query "SELECT count(*) FROM bus_outbox")" = 0 ]; }
  wait_until "$1" outbox_empty || fail "outbox rows left: $(pg_query "SELECT count(*) FROM bus_outbox")"
}

# store_query SQL: the store's answer, rows one a line, columns joined by |: sqlite3 on the data
# directory's file, or psql on PostgreSQL (E2E_STORE=postgres).
store_query() {
  if [ "${E2E_STORE:-sqlite}" = postgres ]; then pg_query "$1"; else sqlite3 "$E2E_TMP/data/medflow.db" "$1"; fi
}

# kafka_bus_for_store [TOPIC:PARTITIONS...]: for a script written for the embedded bus. On
# SQLite nothing; on PostgreSQL (whose bus is Kafka) a Kafka mock cluster with the topics
# medflowd expects at start (ME_TOPICS) and the ones given, and start_medflowd passes its
# brokers.
kafka_bus_for_store() {
  [ "${E2E_STORE:-sqlite}" = postgres ] || return 0
  start_kafka_mock "${ME_TOPICS[@]}" "$@"
  BUS_ARGS=(--kafka-brokers "$KAFKA_BROKERS")
}

# reset_store: an empty store for the next medflowd (stopped): the data directory removed, and
# on PostgreSQL the database dropped and created again.
reset_store() {
  rm -rf "$E2E_TMP/data"
  [ "${E2E_STORE:-sqlite}" = postgres ] || return 0
  "$MEDFLOW_PG_BIN/psql" -q -v ON_ERROR_STOP=1 "$MEDFLOW_TEST_PG_URL" \
    -c "DROP DATABASE medflow" -c "CREATE DATABASE medflow" || fail "cannot reset the database"
}

# start_medflowd [args...]: data in $E2E_TMP/data unless --data-dir is given. Log level
# E2E_LOG_LEVEL (warn), or with E2E_LOG_LEVEL=config the one of the --config file.
start_medflowd() {
  : >"$E2E_TMP/medflowd.out"
  local log_level=(--set "log.level=${E2E_LOG_LEVEL:-warn}")
  # E2E_INLINE_JOBS=false: every medical events job queued on the topic.
  [ -z "${E2E_INLINE_JOBS:-}" ] || log_level+=(--set "medical_events.inline_jobs=$E2E_INLINE_JOBS")
  [ "${E2E_LOG_LEVEL:-}" != config ] || log_level=()
  "$MEDFLOWD" --port 0 --data-dir "$E2E_TMP/data" "${log_level[@]}" \
    --set supervisor.backoff_initial_ms=20 --set supervisor.backoff_max_ms=200 \
    ${STORE_ARGS[@]+"${STORE_ARGS[@]}"} ${BUS_ARGS[@]+"${BUS_ARGS[@]}"} "$@" \
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

# Several medflowd at once (consumer group tests): start_node N [args...] starts node N with
# its own data directory (stderr in node<N>.err) and the store arguments, and sets
# NODE_PIDS[N] and NODE_URLS[N]; owned N: how many partitions of medical_events node N
# consumes; owns_all N...: the nodes own the 8 partitions between them, each some.
NODE_PIDS=()
NODE_URLS=()
start_node() {
  local n=$1 out="$E2E_TMP/node$1.out"
  shift
  : >"$out"
  "$MEDFLOWD" --port 0 --data-dir "$E2E_TMP/data$n" --set log.level=${E2E_LOG_LEVEL:-warn} \
    --set supervisor.backoff_initial_ms=20 --set supervisor.backoff_max_ms=200 \
    ${STORE_ARGS[@]+"${STORE_ARGS[@]}"} "$@" >"$out" 2>>"$E2E_TMP/node$n.err" &
  NODE_PIDS[$n]=$!
  BG_PIDS+=($!)
  wait_until 30 grep -q "listening on" "$out" || fail "node $n did not start"
  NODE_URLS[$n]=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$out" | head -n1)
}
# lease_node NAME: the node (N of start_node) holding the store lease NAME (a holder is named
# after its data directory); lease_pair NAME: sets holder to it and other to the other of nodes
# 1 and 2, or fails naming the row.
lease_node() { pg_query "SELECT holder FROM store_leases WHERE name = '$1'" | sed -n 's|.*/data\([0-9]*\)$|\1|p'; }
lease_pair() {
  holder=$(lease_node "$1")
  case "$holder" in
    1) other=2 ;;
    2) other=1 ;;
    *) fail "the lease $1 is held by '$(pg_query "SELECT holder FROM store_leases WHERE name = '$1'")'" ;;
  esac
}
owned() {
  curl -s "${NODE_URLS[$1]}/metrics" |
    sed -n 's/^medflow_consumer_owned_partitions{topic="medical_events"} \([0-9]*\).*/\1/p'
}
# owned_topic N TOPIC: how many partitions of TOPIC node N consumes.
owned_topic() {
  curl -s "${NODE_URLS[$1]}/metrics" |
    sed -n "s/^medflow_consumer_owned_partitions{topic=\"$2\"} \([0-9]*\).*/\1/p"
}
owns_all() {
  local total=0 n got
  for n in "$@"; do
    got=$(owned "$n")
    [ -n "$got" ] && [ "$got" -gt 0 ] || return 1
    total=$((total + got))
  done
  [ "$total" -eq 8 ]
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
  # E2E_SENT: a file that gets each request as a JSON line {method, path, body, args} (the
  # personal data a test sent, for logs_personal_data.sh).
  if [ -n "${E2E_SENT:-}" ]; then
    jq -cn --arg m "$method" --arg p "$path" --arg b "$body" \
      '{method: $m, path: $p, body: $b, args: $ARGS.positional}' --args -- "$@" >>"$E2E_SENT"
  fi
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

# HRI's internal topic (created at start whenever hri.enabled on Kafka, hri.batch_partitions=8):
# every mock cluster has it, as medflowd cannot create it there.
HRI_TOPICS=(hri.batch_records:8)

# start_kafka_mock TOPIC:PARTITIONS...: a librdkafka mock cluster (the real Kafka protocol on
# loopback) in the background, with the given topics and HRI_TOPICS; sets KAFKA_BROKERS.
start_kafka_mock() {
  local extra=()
  [[ " $* " == *" hri.batch_records:"* ]] || extra=("${HRI_TOPICS[@]}")  # ME_TOPICS has it
  "$TOOLS_DIR/kafka_mock" "$@" "${extra[@]}" >"$E2E_TMP/kafka_mock.out" 2>"$E2E_TMP/kafka_mock.err" &
  BG_PIDS+=($!)
  wait_until 60 grep -q . "$E2E_TMP/kafka_mock.out" || fail "kafka_mock did not start"
  KAFKA_BROKERS=$(head -n1 "$E2E_TMP/kafka_mock.out")
}

# The subscriptions' topic (created at start whenever subscriptions.enabled), for a Kafka mock
# cluster (which cannot create topics).
SUBSCRIPTION_TOPICS=(subscriptions.dead_letter:1)
# The medical events flow's topics, and the subscriptions', for a Kafka mock cluster.
ME_TOPICS=(medical_events:8 medical_events.dead_letter:1 person_events:1
           person_events.dead_letter:1 event_manager_topic:1 medical_events.notifications:1
           "${SUBSCRIPTION_TOPICS[@]}")
# The resource event topics of the shipped mapping (config/events.json, events.partitions=1):
# the medical events flow publishes its changes there (events.enabled, on by default).
mapfile -t EVENT_TOPICS < <(jq -r '.resources | to_entries[] | select(.key | startswith("_") | not)
  | .value as $v | ([$v.profile] + ($v.aliases // [])
  + ([($v.elements // {}), ($v.contexts // {})] | map(keys[] | select(startswith("_") | not)
     | $v.profile + "." + .)))[] + ":1"' "$SOURCE_DIR/config/events.json")
ME_TOPICS+=("${EVENT_TOPICS[@]}")
# For callers that start the mock cluster themselves (bench/groups.sh): HRI's topic too.
ME_TOPICS+=("${HRI_TOPICS[@]}")

# Medical events API helpers; the caller sets HDRS (x-consumer-id, x-consumer-metadata).
api() { http "$1" "$2" "${3:-}" "${HDRS[@]}"; }
# job_of: the job id from the links of the 202 in BODY.
job_of() { printf '%s' "$BODY" | jq -r '.data.links[0].href | sub("/jobs/"; "")'; }
job_done() { api GET "/api/jobs/$1"; [ "$(printf '%s' "$BODY" | jq -r .data.status)" != pending ]; }
# wait_job ID [SECONDS]: polls until the job is no longer pending; sets STATUS/BODY to its view.
wait_job() { wait_until "${2:-20}" job_done "$1" || fail "job $1 still pending after ${2:-20} s"; }

# crash_load PATIENTS UPDATES KILLS JOURNAL [medflowd args...]: starts medflowd, sets up
# PATIENTS patients with me_load and runs their jobs (1 create + UPDATES updates each, 8
# connections, answers in JOURNAL) while medflowd is killed -9 KILLS times at random moments
# and restarted on the same port with the same arguments; returns, medflowd running, once every
# answered job has finished.
crash_load() {
  local patients=$1 updates=$2 kills=$3 journal=$4
  shift 4
  local tool="$TOOLS_DIR/me_load" port load i
  start_medflowd "$@"
  port=${MF_URL##*:}
  "$tool" setup "$MF_URL" "$patients"
  step "load: $patients patients x (1 create + $updates updates), $kills kill -9 restarts"
  "$tool" run "$MF_URL" "$patients" "$updates" "$journal" 8 &
  load=$!
  BG_PIDS+=($load)
  for i in $(seq 1 "$kills"); do
    sleep "0.$((RANDOM % 4 + 1))"
    kill9_medflowd
    echo "killed at $(wc -l <"$journal") answers"
    start_medflowd --port "$port" "$@"
  done
  wait "$load" || fail "the load generator failed"
  step "every answered job finishes"
  "$tool" wait "$MF_URL" "$journal" || fail "jobs left pending"
}

# episode_fixture: a medical-events episode for the resource events tests: BASE (events.base_url
# to run with), the ids (U, LE, DOC, P1, EP), HDRS for api, EPISODE and CLOSE bodies, and the
# functions registries (the legal entity, doctor and patient) and episode_jobs (create, rename,
# close the episode; each job processed).
episode_fixture() {
  BASE=http://ehealth.test/fhir
  U=user-1
  LE=11111111-1111-4111-8111-111111111111
  DOC=22222222-2222-4222-8222-222222222222
  P1=33333333-3333-4333-8333-333333333333
  EP=55555555-5555-4555-8555-555555555555
  HDRS=(-H "x-consumer-id: $U" -H "x-consumer-metadata: {\"client_id\":\"$LE\"}")
  today=$(date -u +%Y-%m-%d)
  ref() { echo "{\"identifier\":{\"type\":{\"coding\":[{\"system\":\"eHealth/resources\",\"code\":\"$1\"}]},\"value\":\"$2\"}}"; }
  EPISODE="{\"id\":\"$EP\",\"type\":{\"system\":\"eHealth/episode_types\",\"code\":\"primary_care\"},\"status\":\"active\",\"name\":\"Flu\",\"managing_organization\":$(ref legal_entity $LE),\"period\":{\"start\":\"$today\"},\"care_manager\":$(ref employee $DOC)}"
  CLOSE="{\"period\":{\"end\":\"$today\"},\"status_reason\":{\"coding\":[{\"system\":\"eHealth/episode_closing_reasons\",\"code\":\"legal_entity\"}]}}"

  registries() {
    http PUT "/admin/legal_entities/$LE" '{"status":"ACTIVE"}'; expect_status 200
    http PUT "/admin/employees/$DOC" "{\"legal_entity_id\":\"$LE\",\"employee_type\":\"DOCTOR\",\"status\":\"APPROVED\",\"user_id\":\"$U\"}"
    expect_status 200
    http PUT "/admin/persons/$P1" '{"status":"active"}'; expect_status 200
  }

  # episode_jobs: create, rename, close; each processed.
  episode_jobs() {
    api POST "/api/patients/$P1/episodes" "$EPISODE"; expect_status 202
    local j; j=$(job_of); wait_job "$j" 30; expect_status 303
    api PATCH "/api/patients/$P1/episodes/$EP" '{"name":"Renamed"}'; expect_status 202
    j=$(job_of); wait_job "$j" 30; expect_status 303
    api PATCH "/api/patients/$P1/episodes/$EP/actions/close" "$CLOSE"; expect_status 202
    j=$(job_of); wait_job "$j" 30; expect_status 303
  }
}

# poll_while_episode_created SUBSCRIPTION: a long poll (wait_ms=30000) on the subscription, then
# the episode's create job (episode_fixture); the poll must answer 200 well before its wait
# ends (within 20 s of the job's submission: woken by the event, not by the end of the wait;
# on Kafka and PostgreSQL under a load average of 20 – 30 the job and its event took 10.5 s).
# BODY holds its answer.
poll_while_episode_created() {
  curl -s -o "$E2E_TMP/poll.json" -w '%{http_code}' "$MF_URL/subscriptions/$1/events?wait_ms=30000" \
    >"$E2E_TMP/poll.status" &
  local poll=$! t0 waited_ms
  BG_PIDS+=($poll)
  t0=$(date +%s%N)
  api POST "/api/patients/$P1/episodes" "$EPISODE"
  expect_status 202
  wait "$poll" || fail "the long poll failed"
  waited_ms=$((($(date +%s%N) - t0) / 1000000))
  echo "long poll answered ${waited_ms} ms after the job was submitted"
  [ "$waited_ms" -lt 20000 ] || fail "the long poll waited ${waited_ms} ms: not woken by the event"
  expect_eq "$(cat "$E2E_TMP/poll.status")" 200 "long poll status"
  BODY=$(cat "$E2E_TMP/poll.json")
}

# -- exams (exams_inbox.sh, exams_two_nodes_postgres.sh) ----------------------------------------
# start_smtp_sink: a real SMTP server (aiosmtpd, tests/support/smtp_sink.py) that writes what it
# receives into MAIL_DIR (one .json and one .eml per message); sets MAIL_DIR and SMTP_PORT.
start_smtp_sink() {
  MAIL_DIR="$E2E_TMP/mail"
  mkdir -p "$MAIL_DIR"
  /usr/bin/python3 "$SOURCE_DIR/tests/support/smtp_sink.py" --out "$MAIL_DIR" --mode plain \
    >"$E2E_TMP/smtp.out" 2>"$E2E_TMP/smtp.err" &
  BG_PIDS+=($!)
  wait_until 20 grep -q "listening on" "$E2E_TMP/smtp.out" || fail "aiosmtpd did not start: $(cat "$E2E_TMP/smtp.err")"
  SMTP_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$E2E_TMP/smtp.out")
}
# mails_to ADDRESS: e-mails received for that address.
mails_to() { grep -l "\"$1\"" "$MAIL_DIR"/*.json 2>/dev/null | wc -l; }
# started_exam DOCUMENT: a Started exam of type 1 (on MF_URL); sets EXAM and TOKEN.
started_exam() {
  http POST /exam/new "{\"document\":\"$1\",\"exam_type\":1}"
  expect_status 200
  EXAM=$(printf '%s' "$BODY" | jq -r .data.exam_id)
  http POST /exam/start "{\"document\":\"$1\",\"exam_id\":\"$EXAM\",\"exam_type\":1}"
  expect_status 200
  TOKEN=$(printf '%s' "$BODY" | jq -r .data)
}
# put_local NAME CONTENT: a result file into $INBOX/$MONTH/completed/, whole at once.
put_local() {
  mkdir -p "$INBOX/$MONTH/completed"
  printf '%s' "$2" >"$INBOX/$MONTH/completed/.$1.part"
  mv "$INBOX/$MONTH/completed/.$1.part" "$INBOX/$MONTH/completed/$1"
}
