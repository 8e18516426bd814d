#!/usr/bin/env bash
# Resource events published by medflowd (issue 16, the publishing half): a medical-events job's
# changes appear as eHealth events (reference Part B) on the mapped topics with the right
# headers and bodies: on the embedded bus through the HTTP topic API, on Kafka (librdkafka's
# mock cluster) through kcat; kill -9 during a load, then restart: every committed change has
# exactly one event; events.enabled=false publishes nothing. Sizes: EV_PATIENTS, EV_UPDATES,
# EV_KILLS.
source "$(dirname "$0")/lib.sh"
episode_fixture

# expect_same JQ_FILTER JSON: the filter's value equals JSON, whatever the order of keys (a
# JSON text is a jq expression).
expect_same() { expect_json "($1) == ($2)" true; }

# topic_records TOPIC: every record of partition 0 (BODY holds them).
topic_records() { http GET "/topics/$1/partitions/0/records?offset=0&max=10000"; expect_status 200; }

EPREF="$BASE/EpisodeOfCare/$EP"
PREF="$BASE/Patient/$P1"

step "embedded bus: an episode's create, rename and close as events"
start_medflowd --set events.base_url="$BASE/"
registries
episode_jobs
topic_records ehealth-episodeofcare
expect_json '.records | length' 3
expect_json '[.records[].value.eventType] | join(",")' created,updated,updated
expect_json '[.records[].value.resourceVersion] | join(",")' 1,2,3
expect_same '.records[0].value' "{\"messageType\":\"EHealthSimpleEvent\",\"messageVersion\":\"1.0\",\"eventType\":\"created\",\"resourceReference\":\"$EPREF\",\"resourceVersion\":\"1\"}"
expect_same '.records[0].headers' "{\"eventType\":\"created\",\"messageClass\":\"com.systematic.ehealth.event.event.EHealthSimpleEvent\",\"messageType\":\"EHealthSimpleEvent\",\"messageVersion\":\"1.0\",\"patientReference\":\"$PREF\",\"resourceProfile\":\"ehealth-episodeofcare\",\"resourceReference\":\"$EPREF\"}"
expect_json '.records[0].key' "$EPREF"
topic_records ehealth-episodeofcare.team
expect_json '.records | length' 1
expect_same '.records[0].value' "{\"messageType\":\"EHealthReferenceEvent\",\"messageVersion\":\"1.0\",\"eventType\":\"reference_added\",\"resourceReference\":\"$EPREF\",\"resourceVersion\":\"1\",\"resourceElement\":\"team\",\"references\":[\"$BASE/PractitionerRole/$DOC\"]}"
expect_json '.records[0].headers.resourceElement' team
expect_json '.records[0].headers.resourceProfile' ehealth-episodeofcare
expect_json '.records[0].headers.messageType' EHealthReferenceEvent
topic_records ehealth-episodeofcare.status
expect_json '.records | length' 1
expect_same '.records[0].value' "{\"messageType\":\"EHealthContextEvent\",\"messageVersion\":\"1.0\",\"eventType\":\"updated\",\"resourceReference\":\"$EPREF\",\"resourceVersion\":\"3\",\"context\":\"status\",\"status\":\"\"}"
expect_json '.records[0].headers.context' status
expect_json '.records[0].headers.resourceProfile' ehealth-episodeofcare
expect_json '.records[0].headers.patientReference' "$PREF"
expect_json '.records[0].headers.messageClass' com.systematic.ehealth.event.event.EHealthContextEvent
stop_medflowd

step "a bad mapping stops start-up with a clear error"
echo '{"resource_types":{"patient":"Patient"},"resources":{"episode":{"profile":"bad name"}}}' >"$E2E_TMP/bad.json"
rc=0
"$MEDFLOWD" --port 0 --data-dir "$E2E_TMP/bad" --set events.config_file="$E2E_TMP/bad.json" >/dev/null 2>"$E2E_TMP/bad.err" || rc=$?
expect_eq "$rc" 1 "exit code"
grep -q "cannot start: $E2E_TMP/bad.json: resources.episode: no resource type for it in resource_types" "$E2E_TMP/bad.err" \
  || fail "no clear error: $(cat "$E2E_TMP/bad.err")"

step "events.enabled=false: the jobs run, nothing is published"
rm -rf "$E2E_TMP/data"
start_medflowd --set events.enabled=false
registries
episode_jobs
http GET /topics/ehealth-episodeofcare/partitions/0/records; expect_status 404
stop_medflowd

step "kill -9 during a load, restart: every committed change has exactly one event"
rm -rf "$E2E_TMP/data"
patients=${EV_PATIENTS:-60}
updates=${EV_UPDATES:-20}
kills=${EV_KILLS:-4}
crash_load "$patients" "$updates" "$kills" "$E2E_TMP/journal" \
  --set medical_events.partitions=4 --set events.base_url="$BASE"
# Events: "<episode id> <version> <eventType>" from the records, changes from the store.
: >"$E2E_TMP/events"
offset=0
while :; do
  http GET "/topics/ehealth-episodeofcare/partitions/0/records?offset=$offset&max=10000"; expect_status 200
  n=$(printf '%s' "$BODY" | jq '.records | length')
  [ "$n" -gt 0 ] || break
  printf '%s' "$BODY" | jq -r '.records[] | (.value.resourceReference | sub(".*/"; "")) + " " + .value.resourceVersion + " " + .value.eventType' >>"$E2E_TMP/events"
  offset=$((offset + n))
done
stop_medflowd
sqlite3 "$E2E_TMP/data/medflow.db" \
  "SELECT id || ' ' || version || ' ' || change FROM me_resource_changes WHERE kind='episode'" \
  | sort >"$E2E_TMP/changes"
sort "$E2E_TMP/events" >"$E2E_TMP/events.sorted"
changes=$(wc -l <"$E2E_TMP/changes")
[ "$changes" -ge "$patients" ] || fail "only $changes changes recorded"
[ "$(sort -u "$E2E_TMP/events.sorted" | wc -l)" = "$(wc -l <"$E2E_TMP/events.sorted")" ] \
  || fail "an event is published twice: $(uniq -d "$E2E_TMP/events.sorted" | head -3)"
diff "$E2E_TMP/changes" "$E2E_TMP/events.sorted" >"$E2E_TMP/diff" \
  || fail "changes and events differ: $(head -5 "$E2E_TMP/diff")"
echo "$changes changes, $(wc -l <"$E2E_TMP/events.sorted") events, one each"

step "Kafka backend: the same events and headers, read by kcat"
rm -rf "$E2E_TMP/data"
start_kafka_mock "${ME_TOPICS[@]}"
start_medflowd --kafka-brokers "$KAFKA_BROKERS" --set events.base_url="$BASE"
registries
episode_jobs
kc() { kcat -C -b "$KAFKA_BROKERS" -t "$1" -o beginning -e -q -f '%k|%h|%s\n'; }
wait_until 30 bash -c "[ \$(kcat -C -b $KAFKA_BROKERS -t ehealth-episodeofcare -o beginning -e -q -f '%s\n' | grep -c .) -ge 3 ]" \
  || fail "the events did not reach Kafka"
kc ehealth-episodeofcare >"$E2E_TMP/k_simple"
expect_eq "$(wc -l <"$E2E_TMP/k_simple")" 3 "simple events on Kafka"
IFS='|' read -r key hdrs body <"$E2E_TMP/k_simple"
expect_eq "$key" "$EPREF" "record key"
for h in eventType=created messageType=EHealthSimpleEvent messageVersion=1.0 \
         "resourceReference=$EPREF" messageClass=com.systematic.ehealth.event.event.EHealthSimpleEvent \
         "patientReference=$PREF" resourceProfile=ehealth-episodeofcare; do
  [[ ",$hdrs," == *",$h,"* ]] || fail "header $h missing in $hdrs"
done
expect_eq "$body" "{\"messageType\":\"EHealthSimpleEvent\",\"messageVersion\":\"1.0\",\"eventType\":\"created\",\"resourceReference\":\"$EPREF\",\"resourceVersion\":\"1\"}" "body"
kc ehealth-episodeofcare.team >"$E2E_TMP/k_team"
IFS='|' read -r key hdrs body <"$E2E_TMP/k_team"
[[ ",$hdrs," == *",resourceElement=team,"* && ",$hdrs," == *",resourceProfile=ehealth-episodeofcare,"* ]] \
  || fail "team headers: $hdrs"
expect_eq "$(printf '%s' "$body" | jq -c .references)" "[\"$BASE/PractitionerRole/$DOC\"]" "team references"
kc ehealth-episodeofcare.status >"$E2E_TMP/k_status"
IFS='|' read -r key hdrs body <"$E2E_TMP/k_status"
[[ ",$hdrs," == *",context=status,"* && ",$hdrs," == *",eventType=updated,"* ]] || fail "status headers: $hdrs"
expect_eq "$(printf '%s' "$body" | jq -r .resourceVersion)" 3 "status event version"
stop_medflowd
echo "PASS $TEST_NAME"
