#!/usr/bin/env bash
# HRI validation throughput on the embedded default: passthrough, then FHIR, each against the
# raw bus append rate measured in the same run. usage: bench/hri.sh [records]
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/calibrate.sh
n=${1:-200000}
for v in passthrough fhir; do
  data=$(mktemp -d)
  build/medflowd --port 0 --data-dir "$data" --set log.level=warn --set hri.auth.disabled=true \
    --set hri.completion_delay_ms=0 >"$data/out" 2>"$data/err" &
  pid=$!
  until grep -q "listening on" "$data/out" 2>/dev/null; do sleep 0.05; done
  url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$data/out")
  echo "== validator $v"
  build/bench/hri_bench "$url" --records "$n" --validator "$v"
  kill "$pid"; wait "$pid" || true
  rm -rf "$data"
done
