#!/usr/bin/env bash
# medflowd binaries A/B(/C...) on the medical events jobs bench, in the same run: each round
# runs every binary once, the order rotating from round to round, each run on a fresh data
# directory with /healthz measured as its ceiling (bench/me_bench.cpp) and medflowd's CPU time
# per job (far less sensitive to the other load on the machine than jobs/s); then the medians
# of each binary. Every run shows the load average.
# usage: bench/binary_ab.sh BINARY[,BINARY...] [seconds per run] [rounds] [me_bench arguments...]
#   e.g. bench/binary_ab.sh ../main/build/medflowd,build/medflowd 10 3 --rate 0
#   (a copy of each binary is safer: a build during the run would replace it)
# env: MEDFLOWD_ARGS (extra medflowd flags for all)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
IFS=, read -r -a bins <<<"$1"
secs=${2:-10}
rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
extra=("$@")
[ ${#extra[@]} -gt 0 ] || extra=(--patients 2000 --connections 32 --rate 0)
bash bench/calibrate.sh
summary=$(mktemp)
n=${#bins[@]}
for r in $(seq 1 "$rounds"); do
  for k in $(seq 0 $((n - 1))); do
    side=$(((k + r - 1) % n))
    bin=${bins[$side]}
    data=$(mktemp -d)
    # shellcheck disable=SC2086  # MEDFLOWD_ARGS holds several words
    MEDFLOWD_BIN=$bin start_medflowd "$data" ${MEDFLOWD_ARGS:-}
    echo "== round $r, $bin, load average $(cut -d' ' -f1 /proc/loadavg)"
    build/bench/me_bench "$medflowd_url" "$data/medflow.db" --seconds "$secs" --pid "$medflowd_pid" \
      "${extra[@]}" | tee "$data/bench.out"
    stop_medflowd
    awk -v s="$bin" -v p="$r" -v l="$(cut -d' ' -f1 /proc/loadavg)" '
      /jobs processed, end to end/ {j=$6} /ratio to the ceiling/ {q=$5}
      /submit -> processed/ {p50=$5; p99=$8} /medflowd CPU per job/ {cpu=$5}
      END {print s, p, j, q, p50, p99, cpu, l}' "$data/bench.out" >>"$summary"
    rm -rf "$data"
  done
done
echo "== runs: binary round jobs/s ratio p50_ms p99_ms cpu_us_per_job load"
cat "$summary"
echo "== medians: binary jobs/s ratio p50_ms p99_ms cpu_us_per_job"
for bin in "${bins[@]}"; do
  awk -v s="$bin" '$1 == s' "$summary" | python3 -c '
import sys, statistics as st
rows = [l.split() for l in sys.stdin]
cols = [[float(r[i].rstrip(",")) for r in rows] for i in (2, 3, 4, 5, 6)]
print(sys.argv[1], "  ".join(f"{st.median(c):.3f}" if i == 1 else f"{st.median(c):.1f}" for i, c in enumerate(cols)))
' "$bin"
done
rm -f "$summary"
