#!/usr/bin/env bash
# An aggregated request whose engagement lookup finds 20,000 engagements (one patient, 20,000
# care units, one TAK route each, one source system answering after 300 ms): the lookup and
# the request list run on an actor, so /healthz on the same (single) HTTP I/O thread stays
# fast all the while; past aggregation.max_engagements the request fails at once with 502
# naming the limit.
# env: LOOKUP_HEALTHZ_MAX_MS (default 100): the slowest /healthz allowed during the lookup.
source "$(dirname "$0")/lib.sh"
kafka_bus_for_store  # E2E_STORE=postgres (its bus is Kafka)

N=20000
step "fake source, a service, a TAK with $N routes"
"$TOOLS_DIR/fake_source" --port 0 --default-delay-ms 300 --default-items 1 >"$E2E_TMP/fake.out" 2>"$E2E_TMP/fake.err" &
BG_PIDS+=($!)
wait_until 10 grep -q "listening on" "$E2E_TMP/fake.out" || fail "fake_source did not start"
FAKE="http://127.0.0.1:$(sed -n 's/.*listening on \([0-9]*\).*/\1/p' "$E2E_TMP/fake.out")"
CONF="$E2E_TMP/agg"; mkdir -p "$CONF"
cat >"$CONF/Big.json" <<JSON
{"name": "Big", "serviceDomain": "riv:test", "contract": "urn:test:Big", "categorization": [],
 "patientIdPointer": "/patientId", "dedupeOn": "sourceSystem", "listField": "items"}
JSON
# Every care unit is reached through one source system, HSA-ID-1: one call in the end, but
# every engagement is checked against the TAK first.
jq -nc --arg fake "$FAKE" --argjson n "$N" '{
  permissions: [{consumer: "sender", contract: "urn:test:Big", logicalAddress: "*"}],
  routes: ([range(1; $n + 1) | {contract: "urn:test:Big", logicalAddress: "UNIT-\(.)", url: "\($fake)/UNIT-\(.)"}]
           + [{contract: "urn:test:Big", logicalAddress: "HSA-ID-1", url: "\($fake)/HSA-ID-1"}])}' \
  >"$CONF/tak.json"

start_medflowd --set aggregation.services_dir="$CONF" --set aggregation.tak_file="$CONF/tak.json" \
  --set aggregation.auth.disabled=true --set aggregation.max_engagements=50000 --set http.io_threads=1

step "$N engagements of one patient"
for from in $(seq 1 2500 "$N"); do
  jq -nc --argjson from "$from" '{engagementTransaction: [range($from; $from + 2500) | {engagement: {
    registeredResidentIdentification: "191212121212", serviceDomain: "riv:test", categorization: "c",
    logicalAddress: "UNIT-\(.)", businessObjectInstanceIdentifier: "bo-\(.)", clinicalProcessInterestId: "cpi",
    sourceSystem: "HSA-ID-1", dataController: "5565594230"}}]}' >"$E2E_TMP/tx.json"
  http POST /aggregation/engagement-index/update "@$E2E_TMP/tx.json"
  expect_status 200
done

H=(-H "x-vp-sender-id: sender" -H "x-rivta-original-serviceconsumer-hsaid: other" -H "x-skltp-correlation-id: big-1")
ask() {
  curl -s -o "$E2E_TMP/big.json" -w '%{http_code} %{time_total}\n' -XPOST "$MF_URL/aggregation/Big" \
    "${H[@]}" -H 'Content-Type: application/json' --data-binary '{"patientId":"191212121212"}'
}

step "/healthz while the lookup of $N engagements runs"
ask >/dev/null   # warm: the index pages in the cache, the TAK scanned once
for round in 1 2 3; do
  ask >"$E2E_TMP/big.out" &
  asker=$!
  : >"$E2E_TMP/healthz.ms"
  while kill -0 "$asker" 2>/dev/null; do
    curl -s -o /dev/null -w '%{time_total}\n' "$MF_URL/healthz" >>"$E2E_TMP/healthz.ms"
  done
  wait "$asker"
  read -r code took <"$E2E_TMP/big.out"
  expect_eq "$code" 200 "status of the aggregated request"
  expect_eq "$(jq -r '.processingStatus | length' "$E2E_TMP/big.json")" 1 "processing status records"
  samples=$(wc -l <"$E2E_TMP/healthz.ms")
  # The source answers after 300 ms: /healthz is asked many times while the request is in
  # medflowd, its lookup first.
  [ "$samples" -ge 5 ] || fail "only $samples /healthz answers during the request"
  worst=$(sort -g "$E2E_TMP/healthz.ms" | tail -n1)
  worst_ms=$(awk -v s="${worst:-0}" 'BEGIN { printf "%.1f", s * 1000 }')
  echo "round $round: aggregated request $(awk -v s="$took" 'BEGIN { printf "%.0f", s * 1000 }') ms;" \
    "/healthz $samples times meanwhile, slowest $worst_ms ms"
  awk -v w="$worst_ms" -v max="${LOOKUP_HEALTHZ_MAX_MS:-100}" 'BEGIN { exit !(w < max) }' ||
    fail "/healthz took $worst_ms ms during the lookup (limit ${LOOKUP_HEALTHZ_MAX_MS:-100} ms)"
done

step "over aggregation.max_engagements: 502 naming the limit, at once"
stop_medflowd
start_medflowd --set aggregation.services_dir="$CONF" --set aggregation.tak_file="$CONF/tak.json" \
  --set aggregation.auth.disabled=true --set aggregation.max_engagements=10000
http POST /aggregation/Big '{"patientId":"191212121212"}' "${H[@]}"
expect_status 502; expect_json .error.code engagement_index_too_large
expect_json .error.message "the engagement index found more than 10000 engagements for the request (aggregation.max_engagements)"
http POST /aggregation/engagement-index/find-content '{"registeredResidentIdentification":"191212121212","serviceDomain":"riv:test"}'
expect_status 502; expect_json .error.code engagement_index_too_large
http GET /healthz; expect_status 200
stop_medflowd
echo "PASS $TEST_NAME"
