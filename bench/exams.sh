#!/usr/bin/env bash
# The exams flow's results inbox end to end: result files/s from completed/ to processed/
# (read, both tokens verified, exam Finished, outcome and notification row committed, file
# moved), on the local folder and on s3rver, with s3rver's own put+get+delete rate measured in
# the same run as its ceiling. Figures: bench/README.md.
#
#   bash bench/exams.sh [LOCAL_FILES] [S3_FILES]      (defaults 5000 and 1000; 0 S3 files: local only)
#
# Local: medflowd runs (inotify), the files (written beforehand in a staging directory of the
# same file system) are renamed into <month>/completed/ at once; the clock runs from the first
# rename to the last file in processed/. S3: the files are uploaded while medflowd is stopped,
# the clock runs from its start to the last object in processed/.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

LOCAL_N=${1:-5000}
S3_N=${2:-1000}
RESULT_KEY=bench-result-token-key
KEYS=(--set exams.crypto_key=$(printf 'b%.0s' $(seq 64)) --set exams.jwt_key=bench-exam-key
      --set exams.result_token_key=$RESULT_KEY --set exams.notify.smtp_tls=none)
EXTRA_ARGS=(${MEDFLOW_ARGS:-})  # e.g. MEDFLOW_ARGS="--set exams.inbox.workers=32"
MONTH=$(date -u +%Y_%m)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/medflow-bench-exams.XXXXXX")
s3_pid=
cleanup() {
  stop_medflowd
  [ -n "$s3_pid" ] && kill "$s3_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

now() { date +%s.%N; }
# CPU seconds (user + system) medflowd has used so far: a figure the neighbours' load moves less.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }
count() { [ -d "$1" ] && find "$1" -maxdepth 1 -type f ! -name '.*' | wc -l || echo 0; }

bash bench/calibrate.sh
echo "machine: $(nproc) cores, $(uname -r); load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"

# -- local folder -------------------------------------------------------------------------------
inbox="$tmp/inbox"
start_medflowd "$tmp/local" "${KEYS[@]}" --set exams.inbox.dir="$inbox" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}
python3 bench/exams_load.py prepare "$medflowd_url" "$LOCAL_N" "$RESULT_KEY" "$tmp/staging"
mkdir -p "$inbox/$MONTH/completed"
c0=$(cpu_of "$medflowd_pid")
t0=$(now)
find "$tmp/staging" -maxdepth 1 -type f -exec mv -t "$inbox/$MONTH/completed/" {} +
until [ "$(count "$inbox/$MONTH/processed")" -ge "$LOCAL_N" ]; do
  sleep 0.02
  [ "$(echo "$(now) - $t0 > 600" | bc)" = 1 ] && { echo "local: not done after 600 s" >&2; exit 1; }
done
t1=$(now)
c1=$(cpu_of "$medflowd_pid")
local_rate=$(echo "$LOCAL_N / ($t1 - $t0)" | bc -l)
printf 'local folder: %d files in %.2f s = %.0f files/s (processed %d, stuck %d); medflowd used %.2f CPU s = %.0f files per CPU second\n' \
  "$LOCAL_N" "$(echo "$t1 - $t0" | bc -l)" "$local_rate" \
  "$(count "$inbox/$MONTH/processed")" "$(count "$inbox/$MONTH/stuck")" \
  "$(echo "$c1 - $c0" | bc -l)" "$(echo "$LOCAL_N / ($c1 - $c0)" | bc -l)"
stop_medflowd

# -- s3rver -------------------------------------------------------------------------------------
[ "$S3_N" -gt 0 ] || exit 0
mkdir -p "$tmp/s3"
node --openssl-legacy-provider tests/node_modules/s3rver/bin/s3rver.js -d "$tmp/s3" \
  -a 127.0.0.1 -p 0 --silent --configure-bucket zmed-bench >"$tmp/s3rver.out" 2>&1 &
s3_pid=$!
for _ in $(seq 600); do grep -q "listening on" "$tmp/s3rver.out" && break; sleep 0.05; done
s3_url="http://127.0.0.1:$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/s3rver.out" | head -n1)"
ceiling=$(python3 bench/exams_load.py s3ceiling "$s3_url" zmed-bench 1000)
S3_ARGS=(--set exams.s3.bucket=zmed-bench --set exams.s3.endpoint="$s3_url"
         --set exams.s3.access_key=S3RVER --set exams.s3.secret_key=S3RVER
         --set exams.s3.poll_interval_ms=100)
start_medflowd "$tmp/s3data" "${KEYS[@]}" "${S3_ARGS[@]}" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}
python3 bench/exams_load.py prepare "$medflowd_url" "$S3_N" "$RESULT_KEY" "$tmp/s3staging"
stop_medflowd
python3 bench/exams_load.py s3put "$s3_url" zmed-bench "$MONTH/completed/" "$tmp/s3staging"
t0=$(now)
start_medflowd "$tmp/s3data" "${KEYS[@]}" "${S3_ARGS[@]}" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}
until [ "$(python3 bench/exams_load.py s3count "$s3_url" zmed-bench "$MONTH/processed/")" -ge "$S3_N" ]; do
  sleep 0.1
  [ "$(echo "$(now) - $t0 > 600" | bc)" = 1 ] && { echo "s3: not done after 600 s" >&2; exit 1; }
done
t1=$(now)
s3_rate=$(echo "$S3_N / ($t1 - $t0)" | bc -l)
printf 's3rver: %d files in %.2f s = %.0f files/s; s3rver put+get+delete alone: %s/s; ratio %.2f\n' \
  "$S3_N" "$(echo "$t1 - $t0" | bc -l)" "$s3_rate" "$ceiling" "$(echo "$s3_rate / $ceiling" | bc -l)"
stop_medflowd
