#!/usr/bin/env bash
# kill -9 medflowd at random moments while many patients' jobs are submitted and processed;
# restart it each time. At the end every job that got 202 is processed or failed exactly once
# (one resource change per processed job, none for failed ones) and each patient's episode
# equals applying its accepted jobs serially in order. Sizes: CRASH_PATIENTS, CRASH_UPDATES,
# CRASH_KILLS (a short form by default; scripts/test.sh runs this).
source "$(dirname "$0")/lib.sh"
tool="$TOOLS_DIR/me_load"
patients=${CRASH_PATIENTS:-100}
updates=${CRASH_UPDATES:-30}
kills=${CRASH_KILLS:-6}
journal="$E2E_TMP/journal"

start_medflowd --set medical_events.partitions=4
port=${MF_URL##*:}
"$tool" setup "$MF_URL" "$patients"

step "load: $patients patients x (1 create + $updates updates), $kills kill -9 restarts"
"$tool" run "$MF_URL" "$patients" "$updates" "$journal" 8 &
load=$!
BG_PIDS+=($load)
for i in $(seq 1 "$kills"); do
  sleep "0.$((RANDOM % 4 + 1))"
  kill9_medflowd
  echo "killed at $(wc -l <"$journal") answers"
  start_medflowd --port "$port" --set medical_events.partitions=4
done
wait "$load" || fail "the load generator failed"

step "every answered job finishes"
"$tool" wait "$MF_URL" "$journal" || fail "jobs left pending"
stop_medflowd
"$tool" verify "$E2E_TMP/data/medflow.db" "$journal" || fail "verification failed"
echo "PASS $TEST_NAME"
