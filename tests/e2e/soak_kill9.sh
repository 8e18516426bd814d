#!/usr/bin/env bash
# Soak (issue 15): medical events jobs and HRI batch records under load at once, medflowd
# killed with SIGKILL at random moments and restarted each time. At the end every
# acknowledged write is present exactly once and none is doubled:
#   jobs     every 202/200 job processed (or failed) once: one resource change per processed
#            job, each patient's episode equals its acknowledged updates applied in order
#            (me_load verify);
#   records  every acknowledged record in .in at the offset it was given, with its key and
#            value; no key twice in .in; every record of .in exactly once in .out (hri_load).
# SOAK_MODE=short (default, ctest: 12 kills, well under 60 s) or full (100 kills);
# SOAK_KILLS overrides the count. Prints one summary line of figures.
source "$(dirname "$0")/lib.sh"
mode=${SOAK_MODE:-short}
case "$mode" in
  short) kills=${SOAK_KILLS:-12} ;;
  full) kills=${SOAK_KILLS:-100} ;;
  *) fail "SOAK_MODE is short or full, not $mode" ;;
esac
me="$TOOLS_DIR/me_load"
hri="$TOOLS_DIR/hri_load"
db="$E2E_TMP/data/medflow.db"
stop="$E2E_TMP/stop"
me_journal="$E2E_TMP/me_journal"
hri_journal="$E2E_TMP/hri_journal"
args=(--set medical_events.partitions=4 --set hri.auth.disabled=true)
begin=$SECONDS

start_medflowd "${args[@]}"
port=${MF_URL##*:}
"$me" setup "$MF_URL" 8
"$hri" setup "$MF_URL" soak s1 2 || fail "hri_load setup failed"

step "$mode: jobs (8 patients) and batch records (4 integrators) under load, $kills kill -9"
"$me" run "$MF_URL" 8 1000000000 "$me_journal" 8 "$stop" 2 &
me_pid=$!
BG_PIDS+=($me_pid)
"$hri" run "$MF_URL" soak s1 "$hri_journal" 4 "$stop" 2 &
hri_pid=$!
BG_PIDS+=($hri_pid)
for i in $(seq 1 "$kills"); do
  sleep "0.$((RANDOM % 5 + 1))$((RANDOM % 10))"
  kill -0 "$me_pid" 2>/dev/null || fail "the jobs load stopped early"
  kill -0 "$hri_pid" 2>/dev/null || fail "the records load stopped early"
  kill9_medflowd
  [ $((i % 10)) -ne 0 ] || echo "kill $i: $(wc -l <"$me_journal") jobs, $(wc -l <"$hri_journal") records acknowledged"
  start_medflowd --port "$port" "${args[@]}"
done
sleep 0.5
touch "$stop"
wait "$me_pid" || fail "the jobs load failed"
wait "$hri_pid" || fail "the records load failed"

step "every job finishes, .out catches up"
"$me" wait_db "$db" 120 || fail "jobs left pending"
"$hri" wait "$db" soak s1 120 || fail ".out did not catch up with .in"
stop_medflowd

step "verify"
"$me" verify "$db" "$me_journal" || fail "jobs: verification failed"
"$hri" verify "$db" soak s1 "$hri_journal" >"$E2E_TMP/hri_verify" || {
  cat "$E2E_TMP/hri_verify"
  fail "records: verification failed"
}
cat "$E2E_TMP/hri_verify"
jobs=$(awk '{print $3}' "$me_journal" | sort -u | wc -l)
records=$(wc -l <"$hri_journal")
echo "SOAK $mode: kills $kills, acknowledged jobs $jobs, acknowledged records $records, lost 0, doubled 0, $((SECONDS - begin)) s"
echo "PASS $TEST_NAME"
