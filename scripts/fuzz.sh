#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cpp) with clang, ASan and UBSan into build-fuzz/,
# then runs each for a fixed time on a copy of its corpus (fuzz/corpus/<target>/ is not
# changed). Fails on any crash, leak, timeout or sanitizer report; the input that caused it is
# kept in build-fuzz/findings/.
# usage: scripts/fuzz.sh [seconds per target, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
bash scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)

start=$(date +%s)
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DMEDFLOW_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
targets=()
for src in fuzz/*_fuzz.cpp; do targets+=("$(basename "$src" .cpp)"); done
cmake --build build-fuzz -j "$jobs" --target "${targets[@]}" >/dev/null
echo "fuzz: built ${targets[*]} in $(($(date +%s) - start)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
findings=build-fuzz/findings
mkdir -p "$findings"
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  [ -d "fuzz/corpus/$t" ] && cp -r "fuzz/corpus/$t/." "$work/$t/"
  log="$work/$t.log"
  # One job: CI has two cores and the sanitizers' own threads.
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     "build-fuzz/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$findings/$t-" "$work/$t" >"$log" 2>&1 &&
     ! grep -qE "runtime error:|ERROR: (Address|Leak|Undefined)Sanitizer" "$log"; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1)
    echo "fuzz: $t ok: ${runs:-?} runs in ${seconds} s, ${cov:-cov: ?}"
  else
    echo "fuzz: $t FAILED (input kept in $findings/):" >&2
    grep -E -A30 "ERROR|runtime error|invariant broken|Test unit written" "$log" | head -80 >&2
    failed=1
  fi
done
echo "fuzz: $(($(date +%s) - start)) s in all"
exit $failed
