#!/usr/bin/env bash
# Issue 15's crafted requests against a running medflowd, on both buses (embedded, then Kafka on
# librdkafka's mock cluster): a body nested 59,000 deep, idle connections past
# http.max_connections, half-sent 1 MB bodies past http.max_inflight_body_bytes, reads without a
# count limit (capped by bus.fetch_max_bytes), a client that does not read its answers
# (http.send_timeout_ms). tests/e2e/abuse.py sends them and measures medflowd's RSS and /healthz
# latency during and after each; every probe must get a 4xx/5xx answer or a closed connection,
# /healthz must stay under 100 ms and RSS come back under 200 MB.
#
# ctest runs small sizes (about 40 s). The figures in bench/README.md ("Abuse (issue
# 15)") come from the full sizes: ABUSE_FULL=1 bash tests/e2e/abuse.sh (20,000 idle
# connections against the default cap, 4,000 half-sent bodies, 300 MB in the topic). Each size
# can also be set alone (ABUSE_IDLE, ABUSE_BODIES, ABUSE_READ_MB, ...).
source "$(dirname "$0")/lib.sh"

if [ "${ABUSE_FULL:-0}" = 1 ]; then
  : "${ABUSE_IDLE:=20000}" "${ABUSE_MAX_CONNECTIONS:=10000}" "${ABUSE_BODIES:=4000}"
  : "${ABUSE_READ_MB:=300}" "${ABUSE_SEND_TIMEOUT_MS:=5000}" "${ABUSE_PIPELINED:=50}"
  : "${ABUSE_HOLD:=5}"
else
  : "${ABUSE_IDLE:=1500}" "${ABUSE_MAX_CONNECTIONS:=1000}" "${ABUSE_BODIES:=300}"
  : "${ABUSE_READ_MB:=8}" "${ABUSE_SEND_TIMEOUT_MS:=1000}" "${ABUSE_PIPELINED:=20}"
  : "${ABUSE_HOLD:=2}"
fi
: "${ABUSE_DEEP:=59000}" "${ABUSE_PHASES:=deep,idle,bodies,reads,nonreader}"
: "${ABUSE_BUSES:=embedded kafka}"

LIMITS=(--set http.max_connections="$ABUSE_MAX_CONNECTIONS"
        --set http.send_timeout_ms="$ABUSE_SEND_TIMEOUT_MS")

run_abuse() {
  local bus=$1
  local port=${MF_URL##*:}
  python3 "$SOURCE_DIR/tests/e2e/abuse.py" --port "$port" --pid "$MF_PID" --bus "$bus" \
    --phases "$ABUSE_PHASES" --deep "$ABUSE_DEEP" --idle "$ABUSE_IDLE" --hold "$ABUSE_HOLD" \
    --max-connections "$ABUSE_MAX_CONNECTIONS" --bodies "$ABUSE_BODIES" \
    --read-mb "$ABUSE_READ_MB" --send-timeout-ms "$ABUSE_SEND_TIMEOUT_MS" \
    --pipelined "$ABUSE_PIPELINED" --healthz-ms "${ABUSE_HEALTHZ_MS:-100}" \
    --rss-after-mb "${ABUSE_RSS_AFTER_MB:-200}" | tee -a "$E2E_TMP/figures" ||
    fail "abuse probes on the $bus bus (figures above)"
  kill -0 "$MF_PID" 2>/dev/null || fail "medflowd died on the $bus bus"
  http GET /healthz; expect_status 200
}

for bus in $ABUSE_BUSES; do
  case $bus in
    embedded)
      step "embedded bus"
      start_medflowd "${LIMITS[@]}"
      http POST /topics '{"name":"abuse","partitions":1}'; expect_status 201
      ;;
    kafka)
      step "Kafka bus (mock cluster)"
      start_kafka_mock abuse:1 "${SUBSCRIPTION_TOPICS[@]}"
      start_medflowd --kafka-brokers "$KAFKA_BROKERS" --set medical_events.enabled=false \
        --set exams.enabled=false \
        "${LIMITS[@]}"
      ;;
    *) fail "unknown bus $bus" ;;
  esac
  run_abuse "$bus"
  STOP_LIMIT=20 stop_medflowd
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  BG_PIDS=()
done
echo "abuse: every probe refused or capped, medflowd alive, /healthz and RSS within limits"
