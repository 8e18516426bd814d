#!/usr/bin/env bash
# Logs and metrics as operators read them (issue 19): the listening line once; /metrics in
# Prometheus' text format (strict check + python3-prometheus-client's parser), with the process
# metrics, build info, *_duration_seconds names and every metric the Grafana dashboard and the
# alerting rules query; consumer lag in /metrics and GET /topics on both bus backends; the
# json format with the access log, and the journal format.
source "$(dirname "$0")/lib.sh"

CHECK=(/usr/bin/python3 "$SOURCE_DIR/tests/e2e/metrics_check.py")
REQUIRED=(process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes
          process_open_fds process_max_fds process_start_time_seconds medflow_build_info
          medflow_http_requests_total medflow_http_request_duration_seconds
          medflow_me_job_duration_seconds medflow_store_commit_duration_seconds
          medflow_consumer_lag medflow_supervisor_escalated medflow_hri_batch_status_total)

# lag_of TOPIC GROUP: the summed medflow_consumer_lag of the topic's partitions ("" if none).
lag_of() {
  curl -s "$MF_URL/metrics" |
    awk -v t="topic=\"$1\"" -v g="group=\"$2\"" '$1 ~ /^medflow_consumer_lag\{/ && index($1, t) && index($1, g) { s += $2; n++ } END { if (n) print s }'
}
lag_zero() { [ "$(lag_of "$1" "$2")" = 0 ]; }

# topics_lag_consistent TOPIC PARTITIONS: GET /topics shows the topic's consumers, one entry per
# partition of medical_event_group, with lag = end_offset - committed, and some end offset > 0.
topics_lag_consistent() {
  http GET /topics; expect_status 200
  printf '%s' "$BODY" | jq -e --arg t "$1" --argjson n "$2" '
    .topics[] | select(.name == $t) | .consumers | map(select(.group == "medical_event_group"))
    | length == $n
      and all(.lag == .end_offset - (.committed // 0))
      and (map(.end_offset) | add) > 0' >/dev/null ||
    fail "GET /topics: no consistent lag for $1: $(printf '%s' "$BODY" | jq -c --arg t "$1" '.topics[] | select(.name == $t)')"
}

step "the listening line is printed once (stdout), at info too"
# Jobs through the topic (not processed as they are accepted): the consumers' lag is looked at.
E2E_LOG_LEVEL=info start_medflowd --set hri.auth.disabled=true --set medical_events.inline_jobs=false
expect_eq "$(cat "$E2E_TMP/medflowd.out" "$E2E_TMP/medflowd.err" | grep -c 'listening on')" 1 \
  "listening lines"

step "some work: a medical events job, an HRI batch"
episode_fixture
registries
api POST "/api/patients/$P1/episodes" "$EPISODE"; expect_status 202
j=$(job_of); wait_job "$j" 30; expect_status 303
http POST /hri/tenants/t1; expect_status 201
http POST /hri/tenants/t1/streams/s1 '{"numPartitions":1,"retentionMs":3600000}'; expect_status 201
http POST /hri/tenants/t1/batches '{"name":"b1","topic":"ingest.t1.s1.in","dataType":"x"}'
expect_status 201

step "/metrics: content type, strict exposition format, required names, dashboard, alerts"
ctype=$(curl -s -o "$E2E_TMP/metrics.txt" -w '%{content_type}' "$MF_URL/metrics")
expect_eq "$ctype" "text/plain; version=0.0.4; charset=utf-8" "content type of /metrics"
"${CHECK[@]}" "$E2E_TMP/metrics.txt" --require "${REQUIRED[@]}" \
  --dashboard "$SOURCE_DIR/deploy/grafana/medflow.json" \
  --rules "$SOURCE_DIR/deploy/prometheus/alerts.yml" || fail "/metrics check failed"
version=$("$MEDFLOWD" --version | awk '{print $2}')
grep -qx "medflow_build_info{version=\"$version\"} 1" "$E2E_TMP/metrics.txt" ||
  fail "no medflow_build_info for $version"
grep -q '^medflow_hri_batch_status_total{status="started"} 1$' "$E2E_TMP/metrics.txt" ||
  fail "the batch created is not counted: $(grep hri_batch_status "$E2E_TMP/metrics.txt")"
if grep -E '^medflow_[a-z_]*_seconds_bucket' "$E2E_TMP/metrics.txt" | grep -v '_duration_seconds_bucket'; then
  fail "a duration histogram not named *_duration_seconds"
fi
# The checker itself refuses what it should (so that its passing means something).
printf '# HELP x_total a\\tb\n# TYPE x_total counter\nx_total 1\n' >"$E2E_TMP/bad1"
printf '# TYPE y gauge\ny{a="1"} 1\nz 2\ny{a="2"} 1\n' >"$E2E_TMP/bad2"
printf '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n' >"$E2E_TMP/bad3"
printf '# TYPE w_total counter\nw_total{a="x\\y"} 1\n' >"$E2E_TMP/bad4"
for b in bad1 bad2 bad3 bad4; do
  if "${CHECK[@]}" "$E2E_TMP/$b" 2>/dev/null; then fail "metrics_check accepted $b"; fi
done
if "${CHECK[@]}" "$E2E_TMP/metrics.txt" --require medflow_no_such_metric 2>/dev/null; then
  fail "metrics_check accepted a missing required name"
fi

step "consumer lag (embedded): /metrics and GET /topics agree, and reach 0"
[ -n "$(lag_of medical_events medical_event_group)" ] || fail "no medflow_consumer_lag for medical_events"
wait_until 20 lag_zero medical_events medical_event_group || fail "lag of medical_events stays $(lag_of medical_events medical_event_group)"
topics_lag_consistent medical_events 8
stop_medflowd

step "log.format=json with log.access: every line an object; access lines"
: >"$E2E_TMP/medflowd.err"
start_medflowd --set log.level=info --set log.format=json --set log.access=true
http GET /healthz '' -H 'X-Request-ID: probe-1'; expect_status 200
http GET /nope/patient-secret; expect_status 404
stop_medflowd
jq -e -s 'length > 3 and all(has("time") and has("level") and has("component") and has("message"))' \
  "$E2E_TMP/medflowd.err" >/dev/null || fail "the log is not JSON lines: $(head -n 3 "$E2E_TMP/medflowd.err")"
jq -e -s 'any(.component == "access" and .path == "/healthz" and .status == "200"
              and .request_id == "probe-1" and .method == "GET" and (.bytes | tonumber) > 0)' \
  "$E2E_TMP/medflowd.err" >/dev/null || fail "no access line for /healthz"
jq -e -s 'any(.component == "access" and .path == "(unmatched)" and .status == "404")' \
  "$E2E_TMP/medflowd.err" >/dev/null || fail "no access line for the unmatched request"
if grep -q patient-secret "$E2E_TMP/medflowd.err"; then fail "the access log wrote a raw path"; fi

step "log.format=journal: syslog priority prefixes"
: >"$E2E_TMP/medflowd.err"
start_medflowd --set log.level=info --set log.format=journal
stop_medflowd
[ -s "$E2E_TMP/medflowd.err" ] || fail "no log lines"
if grep -vE '^<[3467]>\[[a-z_]+\] ' "$E2E_TMP/medflowd.err"; then fail "a journal line without <N>[component]"; fi
grep -q '^<6>\[medflowd\] ' "$E2E_TMP/medflowd.err" || fail "no info line at <6>"

step "consumer lag on the Kafka backend (librdkafka's mock cluster)"
start_kafka_mock "${ME_TOPICS[@]}"
# A store of its own: the embedded run's HRI stream has no topics on this cluster (medflowd
# refuses to start with a stream whose .in topic the broker does not have).
reset_store
start_medflowd --kafka-brokers "$KAFKA_BROKERS" --set medical_events.inline_jobs=false
registries
api POST "/api/patients/$P1/episodes" "$EPISODE"; expect_status 202
j=$(job_of); wait_job "$j" 30
[ -n "$(lag_of medical_events medical_event_group)" ] || fail "no medflow_consumer_lag on Kafka"
wait_until 30 lag_zero medical_events medical_event_group || fail "Kafka lag stays $(lag_of medical_events medical_event_group)"
topics_lag_consistent medical_events 8
curl -s "$MF_URL/metrics" >"$E2E_TMP/metrics_kafka.txt"
"${CHECK[@]}" "$E2E_TMP/metrics_kafka.txt" --require "${REQUIRED[@]}" || fail "/metrics check failed on Kafka"
stop_medflowd
echo "observability: ok"
