#!/usr/bin/env bash
# kill -9 medflowd at random moments while many patients' jobs are submitted and processed;
# restart it each time. At the end every job that got 202 is processed or failed exactly once
# (one resource change per processed job, none for failed ones) and each patient's episode
# equals applying its accepted jobs serially in order. Sizes: CRASH_PATIENTS, CRASH_UPDATES,
# CRASH_KILLS (a short form by default; scripts/test.sh runs this).
source "$(dirname "$0")/lib.sh"
patients=${CRASH_PATIENTS:-100}
updates=${CRASH_UPDATES:-30}
kills=${CRASH_KILLS:-6}
journal="$E2E_TMP/journal"

crash_load "$patients" "$updates" "$kills" "$journal" --set medical_events.partitions=4
stop_medflowd
"$TOOLS_DIR/me_load" verify "$E2E_TMP/data/medflow.db" "$journal" || fail "verification failed"
echo "PASS $TEST_NAME"
