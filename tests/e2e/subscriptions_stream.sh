#!/usr/bin/env bash
# GET /subscriptions/{id}/stream (server-sent events) with medical-events jobs: refusals (400
# for a Last-Event-ID that is not a cursor of the subscription, 404, 409) before any stream; a
# matching subscriber's stream (curl -N) gets each job's change as it lands (id = its cursor,
# event = its topic, data = its JSON as the pull API shows it), a non-matching one gets only
# heartbeats; after kill -9 of medflowd, resuming with Last-Event-ID gives the events after that
# id and then the new ones, none lost; without it the stream starts at the acked cursor (the
# stream itself never acks); HEAD; a stream open at SIGTERM does not hold up the stop.
source "$(dirname "$0")/lib.sh"

episode_fixture
ARGS=(--set events.base_url="$BASE" --set subscriptions.stream.heartbeat_s=1)
start_medflowd "${ARGS[@]}"
registries
subscribe() { http POST /subscriptions "$1"; expect_status 201; SUB_ID=$(printf '%s' "$BODY" | jq -r .id); }
subscribe "$(jq -nc --arg s "patientReference LIKE '%/Patient/$P1'" \
  '{topic: "ehealth-episodeofcare", selector: $s}')"
MATCH=$SUB_ID
subscribe '{"topic":"ehealth-episodeofcare","selector":"patientReference = '"'"'Patient/nobody'"'"'"}'
NOMATCH=$SUB_ID
subscribe '{"topic":"ehealth-episodeofcare","delivery":{"mode":"webhook","url":"http://127.0.0.1:9/x"}}'
HOOKED=$SUB_ID

step "refusals come as JSON errors, before any stream"
http GET "/subscriptions/$MATCH/stream" "" -H 'Last-Event-ID: not-a-cursor!'
expect_status 400
expect_json '.error.code' bad_request
expect_json '.error.message | startswith("cursor: ")' true
http GET "/subscriptions/$MATCH/stream?last_event_id=not-a-cursor!"
expect_status 400
# A well-formed cursor of another topic is not one of this subscription's.
OTHER_CURSOR=$(printf 'ehealth-careplan:0:1' | base64 | tr '+/' '-_' | tr -d '=\n')
http GET "/subscriptions/$MATCH/stream" "" -H "Last-Event-ID: $OTHER_CURSOR"
expect_status 400
expect_json '.error.message' "cursor: not a cursor of this subscription's events"
http GET /subscriptions/nope/stream
expect_status 404
expect_json '.error.code' not_found
http GET "/subscriptions/$HOOKED/stream"
expect_status 409

# stream NAME SUBSCRIPTION [curl args...]: curl -N in the background into $E2E_TMP/NAME.sse
# (head in NAME.head).
stream() {
  local name=$1 sub=$2
  shift 2
  curl -sN --max-time 120 -D "$E2E_TMP/$name.head" "$@" "$MF_URL/subscriptions/$sub/stream" \
    >"$E2E_TMP/$name.sse" 2>/dev/null &
  BG_PIDS+=($!)
  wait_until 10 grep -qs '^HTTP/1.1 200' "$E2E_TMP/$name.head" || fail "stream $name did not start"
}
events_in() { grep -c '^event: ' "$E2E_TMP/$1.sse" || true; }
has_events() { [ "$(events_in "$1")" -ge "$2" ]; }
# The SSE messages of a stream as JSON lines: {id, event, data (parsed)}.
messages() {
  awk '/^id: /{id=substr($0,5)} /^event: /{ev=substr($0,8)} /^data: /{d=substr($0,7)}
       /^$/{ if (d != "") print "{\"id\":\"" id "\",\"event\":\"" ev "\",\"data\":" d "}"; id=ev=d="" }' \
    "$E2E_TMP/$1.sse"
}

step "two streams open; jobs land; only the matching one gets their changes, as they land"
stream match "$MATCH"
stream nomatch "$NOMATCH"
grep -qi '^content-type: text/event-stream' "$E2E_TMP/match.head" || fail "not text/event-stream: $(cat "$E2E_TMP/match.head")"
grep -qi '^transfer-encoding: chunked' "$E2E_TMP/match.head" || fail "not chunked"
api POST "/api/patients/$P1/episodes" "$EPISODE"; expect_status 202
t0=$(date +%s%N)
wait_until 10 has_events match 1 || fail "the stream did not get the created episode"
echo "stream got the change $((($(date +%s%N) - t0) / 1000000)) ms after the job's 202"
J=$(job_of); wait_job "$J" 30
api PATCH "/api/patients/$P1/episodes/$EP" '{"name":"Renamed"}'; expect_status 202
J=$(job_of); wait_job "$J" 30
wait_until 10 has_events match 2 || fail "the stream did not get the rename"
sleep 1.5  # a heartbeat interval: anything else would have come by now
messages match >"$E2E_TMP/a.jsonl"
N_A=$(wc -l <"$E2E_TMP/a.jsonl")
[ "$N_A" -ge 2 ] || fail "expected at least 2 events, got $N_A"
# Each message: id = the event's cursor, event = its topic, data = the pull API's JSON.
jq -e -s 'all(.[]; .id == .data.cursor and .event == "ehealth-episodeofcare" and .event == .data.topic
              and (.data.headers.patientReference | endswith("/Patient/'"$P1"'")))' \
  "$E2E_TMP/a.jsonl" >/dev/null || fail "messages do not carry their cursor/topic: $(cat "$E2E_TMP/a.jsonl")"
jq -e -s '[.[].data.offset] == ([.[].data.offset] | sort) and (.[0].data.headers.eventType == "created")' \
  "$E2E_TMP/a.jsonl" >/dev/null || fail "events out of order: $(cat "$E2E_TMP/a.jsonl")"
[ "$(events_in nomatch)" = 0 ] || fail "the non-matching stream got events: $(cat "$E2E_TMP/nomatch.sse")"
grep -q '^: keep-alive$' "$E2E_TMP/nomatch.sse" || fail "no heartbeat on the idle stream"
# What the pull API shows for the same subscription is what the stream sent.
http GET "/subscriptions/$MATCH/events"
expect_status 200
expect_eq "$(printf '%s' "$BODY" | jq -c '[.events[].cursor]')" "$(jq -c -s '[.[].id]' "$E2E_TMP/a.jsonl")" "pull vs stream"

step "kill -9; resume with Last-Event-ID: the events after it, then the new ones, none lost"
FIRST_ID=$(jq -r -s '.[0].id' "$E2E_TMP/a.jsonl")
kill9_medflowd
start_medflowd "${ARGS[@]}"
stream resumed "$MATCH" -H "Last-Event-ID: $FIRST_ID"
wait_until 10 has_events resumed $((N_A - 1)) || fail "resume did not replay the events after $FIRST_ID"
api PATCH "/api/patients/$P1/episodes/$EP/actions/close" "$CLOSE"; expect_status 202
J=$(job_of); wait_job "$J" 30
wait_until 10 has_events resumed "$N_A" || fail "the resumed stream did not get the new change"
messages resumed >"$E2E_TMP/b.jsonl"
expect_eq "$(jq -c -s '[.[].data.offset]' "$E2E_TMP/b.jsonl" | jq -c '.[0:'"$((N_A - 1))"']')" \
  "$(jq -c -s '[.[1:][].data.offset]' "$E2E_TMP/a.jsonl")" "events after Last-Event-ID"
jq -e -s '[.[].data.offset] == ([.[].data.offset] | sort | unique)' "$E2E_TMP/b.jsonl" >/dev/null ||
  fail "duplicates or disorder after resume: $(cat "$E2E_TMP/b.jsonl")"
N_B=$(wc -l <"$E2E_TMP/b.jsonl")
# The query parameter resumes the same way.
stream byquery "$MATCH" -G --data-urlencode "last_event_id=$FIRST_ID"
wait_until 10 has_events byquery "$N_B" || fail "?last_event_id did not resume"

step "no Last-Event-ID: from the acked cursor (the streams acked nothing)"
stream fromstart "$MATCH"
wait_until 10 has_events fromstart $((N_B + 1)) || fail "a fresh stream did not start at the acked cursor (nothing acked)"
SECOND=$(jq -r -s '.[1].id' "$E2E_TMP/a.jsonl")
http POST "/subscriptions/$MATCH/ack" "{\"cursor\":\"$SECOND\"}"
expect_status 204
stream afterack "$MATCH"
wait_until 10 has_events afterack $((N_B - 1)) || fail "after the ack the stream did not start after it"
sleep 1.2
[ "$(events_in afterack)" = $((N_B - 1)) ] || fail "after the ack: $(events_in afterack) events, expected $((N_B - 1))"

step "HEAD: the head alone"
H=$(curl -s -I --max-time 5 "$MF_URL/subscriptions/$MATCH/stream")
printf '%s' "$H" | grep -q '^HTTP/1.1 200' || fail "HEAD: $H"
printf '%s' "$H" | grep -qi '^content-type: text/event-stream' || fail "HEAD: $H"

step "SIGTERM with streams open: they end, medflowd stops in time"
STOP_LIMIT=10 stop_medflowd
