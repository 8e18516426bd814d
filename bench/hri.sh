#!/usr/bin/env bash
# HRI validation throughput on the embedded default: passthrough, then FHIR, each against the
# raw bus append rate measured in the same run. usage: bench/hri.sh [records]
# env: MEDFLOWD_BIN (another medflowd binary, for A/B runs), CONNECTIONS (default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bash bench/calibrate.sh
n=${1:-200000}
for v in passthrough fhir; do
  data=$(mktemp -d)
  start_medflowd "$data" --set hri.auth.disabled=true --set hri.completion_delay_ms=0
  echo "== validator $v"
  build/bench/hri_bench "$medflowd_url" --records "$n" --validator "$v" --connections "${CONNECTIONS:-4}"
  stop_medflowd
  rm -rf "$data"
done
