#!/usr/bin/env bash
# Aggregation throughput and overhead: 200 concurrent clients, 5 sources per patient (played by
# fake_source) answering in 100 ms, local engagement index, no cache.
# usage: bench/aggregation.sh [seconds] [clients]
# env: MEDFLOWD_ARGS (extra medflowd flags), AGP_BENCH_ARGS (extra agp_bench flags),
#      MEDFLOWD_BIN (another medflowd binary, for A/B runs)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bash bench/calibrate.sh
secs=${1:-20}
clients=${2:-200}
dir=$(mktemp -d)
trap 'kill $fpid 2>/dev/null; stop_medflowd; wait 2>/dev/null; rm -rf "$dir"' EXIT
build/tests/fake_source --port 0 --default-delay-ms 100 --default-items 1 >"$dir/fake.out" 2>&1 &
fpid=$!
until grep -q "listening on" "$dir/fake.out" 2>/dev/null; do sleep 0.05; done
fport=$(sed -n 's/.*listening on \([0-9]*\).*/\1/p' "$dir/fake.out")
mkdir -p "$dir/agg"
cat >"$dir/agg/Bench.json" <<JSON
{"name":"Bench","serviceDomain":"riv:bench","contract":"urn:bench","patientIdPointer":"/patientId",
 "dedupeOn":"sourceSystem","listField":"items"}
JSON
perms=""; routes=""
for s in 1 2 3 4 5; do
  perms+="{\"consumer\":\"bench\",\"contract\":\"urn:bench\",\"logicalAddress\":\"SRC-$s\"},"
  routes+="{\"contract\":\"urn:bench\",\"logicalAddress\":\"SRC-$s\",\"url\":\"http://127.0.0.1:$fport/SRC-$s\"},"
done
echo "{\"permissions\":[${perms%,}],\"routes\":[${routes%,}]}" >"$dir/agg/tak.json"
# shellcheck disable=SC2086  # MEDFLOWD_ARGS holds several words
start_medflowd "$dir/data" --set aggregation.services_dir="$dir/agg" \
  --set aggregation.tak_file="$dir/agg/tak.json" --set http.threads=$((clients + 56)) \
  --set aggregation.auth.disabled=true \
  ${MEDFLOWD_ARGS:-}
build/bench/agp_bench "$medflowd_url" "$medflowd_pid" --clients "$clients" --seconds "$secs" --fake "http://127.0.0.1:$fport" ${AGP_BENCH_ARGS:-}
