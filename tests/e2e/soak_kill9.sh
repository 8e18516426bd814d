#!/usr/bin/env bash
# Soak (issue 15): medical events jobs and HRI batch records under load at once, medflowd
# killed with SIGKILL at random moments and restarted each time. At the end every
# acknowledged write is present exactly once and none is doubled:
#   jobs     every 202/200 job processed (or failed) once: one resource change per processed
#            job, each patient's episode equals its acknowledged updates applied in order
#            (me_load verify);
#   records  every acknowledged record in .in at the offset it was given, with its key and
#            value; no key twice in .in; every record of .in exactly once in .out (hri_load);
#   events   every resource change of a processed job has exactly one resource event on each
#            topic it maps to (the simple event, and the team and managingOrganization
#            reference events of a create), none doubled, and no event without a committed
#            change;
#   pulls    a pull subscription to the episodes' simple events, consumed and acked across the
#            kills (me_load consume: 20 ms from a pull to its ack, an ack cut off by a kill
#            given up and the events pulled again): every event delivered at least once, none
#            delivered again after an ack that was answered (an answered ack is never lost).
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
sub_journal="$E2E_TMP/sub_journal"
drained="$E2E_TMP/drained"
args=(--set medical_events.partitions=4 --set hri.auth.disabled=true)
begin=$SECONDS

start_medflowd "${args[@]}"
port=${MF_URL##*:}
# Before any episode exists: the subscription reads the topic from its first record.
sub=$("$me" subscribe "$MF_URL" ehealth-episodeofcare) || fail "cannot subscribe"
"$me" setup "$MF_URL" 8
"$hri" setup "$MF_URL" soak s1 2 || fail "hri_load setup failed"

step "$mode: jobs (8 patients) and batch records (4 integrators) under load, $kills kill -9"
"$me" run "$MF_URL" 8 1000000000 "$me_journal" 8 "$stop" 2 &
me_pid=$!
BG_PIDS+=($me_pid)
"$hri" run "$MF_URL" soak s1 "$hri_journal" 4 "$stop" 2 &
hri_pid=$!
BG_PIDS+=($hri_pid)
# 20 ms between a pull and its ack, and an ack a kill cuts off is not sent again: those events
# are pulled again (at least once).
"$me" consume "$MF_URL" "$sub" "$sub_journal" "$drained" 20 >"$E2E_TMP/consume.out" &
sub_pid=$!
BG_PIDS+=($sub_pid)
for i in $(seq 1 "$kills"); do
  sleep "0.$((RANDOM % 5 + 1))$((RANDOM % 10))"
  kill -0 "$me_pid" 2>/dev/null || fail "the jobs load stopped early"
  kill -0 "$hri_pid" 2>/dev/null || fail "the records load stopped early"
  kill -0 "$sub_pid" 2>/dev/null || fail "the subscription consumer stopped early"
  kill9_medflowd
  [ $((i % 10)) -ne 0 ] || echo "kill $i: $(wc -l <"$me_journal") jobs, $(wc -l <"$hri_journal") records acknowledged, $(wc -l <"$sub_journal") events pulled"
  start_medflowd --port "$port" "${args[@]}"
done
sleep 0.5
touch "$stop"
wait "$me_pid" || fail "the jobs load failed"
wait "$hri_pid" || fail "the records load failed"

step "every job finishes, .out catches up, the subscriber reads to the end"
"$me" wait_db "$db" 120 || fail "jobs left pending"
"$hri" wait "$db" soak s1 120 || fail ".out did not catch up with .in"
touch "$drained"
wait "$sub_pid" || fail "the subscription consumer failed"
cat "$E2E_TMP/consume.out"
stop_medflowd

step "verify"
"$me" verify "$db" "$me_journal" || fail "jobs: verification failed"
"$hri" verify "$db" soak s1 "$hri_journal" >"$E2E_TMP/hri_verify" || {
  cat "$E2E_TMP/hri_verify"
  fail "records: verification failed"
}
cat "$E2E_TMP/hri_verify"
"$me" verify_subscription "$db" ehealth-episodeofcare "$sub_journal" || fail "subscription: verification failed"
# Events, as "<topic> <episode id> <version> <eventType>": what the changes of processed jobs
# must have published (a create: the simple event and one reference event per element it sets)
# against every record on the episode topics.
sqlite3 "$db" "SELECT t.name || ' ' || json_extract(CAST(r.value AS TEXT), '\$.resourceReference')
                 || ' ' || json_extract(CAST(r.value AS TEXT), '\$.resourceVersion')
                 || ' ' || json_extract(CAST(r.value AS TEXT), '\$.eventType')
               FROM bus_records r JOIN bus_topics t ON t.id = r.topic_id
               WHERE t.name = 'ehealth-episodeofcare' OR t.name LIKE 'ehealth-episodeofcare.%'" \
  | sed 's#http[^ ]*/##' | sort >"$E2E_TMP/events"
sqlite3 "$db" "SELECT 'ehealth-episodeofcare ' || c.id || ' ' || c.version || ' ' || c.change
               FROM me_resource_changes c JOIN me_jobs j ON j.id = c.job_id AND j.status = 1
               WHERE c.kind = 'episode'
               UNION ALL
               SELECT 'ehealth-episodeofcare.' || e.name || ' ' || c.id || ' ' || c.version
                 || ' reference_added'
               FROM me_resource_changes c JOIN me_jobs j ON j.id = c.job_id AND j.status = 1,
                 (SELECT 'team' AS name UNION ALL SELECT 'managingOrganization') e
               WHERE c.kind = 'episode' AND c.change = 'created'" | sort >"$E2E_TMP/expected"
changes=$(sqlite3 "$db" "SELECT count(*) FROM me_resource_changes")
committed=$(sqlite3 "$db" "SELECT count(*) FROM me_resource_changes c JOIN me_jobs j ON j.id = c.job_id AND j.status = 1")
expect_eq "$changes" "$committed" "resource changes (all of processed jobs)"
events=$(wc -l <"$E2E_TMP/events")
[ "$events" -gt "$kills" ] || fail "only $events events"
doubled=$(uniq -d "$E2E_TMP/events" | wc -l)
[ "$doubled" = 0 ] || fail "$doubled events published twice: $(uniq -d "$E2E_TMP/events" | head -3)"
diff "$E2E_TMP/expected" "$E2E_TMP/events" >"$E2E_TMP/events.diff" \
  || fail "events and committed changes differ (< missing, > without a change): $(head -5 "$E2E_TMP/events.diff")"
echo "events: $events, one per committed change and topic ($changes changes)"
jobs=$(awk '{print $3}' "$me_journal" | sort -u | wc -l)
records=$(wc -l <"$hri_journal")
pulled=$(wc -l <"$sub_journal")
distinct=$(sort -u "$sub_journal" | wc -l)
echo "SOAK $mode: kills $kills, acknowledged jobs $jobs, acknowledged records $records, events $events, pulled $pulled times ($distinct events, each at least once), lost 0, doubled 0, $((SECONDS - begin)) s"
echo "PASS $TEST_NAME"
