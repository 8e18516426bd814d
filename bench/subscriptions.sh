#!/usr/bin/env bash
# Pull subscriptions: N subscriptions (default 1000) over 20 topics, each with a selector that
# half of the records match; records appended through the topic API (the raw append rate of
# the same run is the ceiling); then every subscription pulls (max=1000) and acks until empty.
# Prints records/s appended and events/s delivered (sum over subscriptions).
# usage: bench/subscriptions.sh [subscriptions] [records per topic] [client threads]
# env: MEDFLOWD_BIN, MEDFLOWD_ARGS. Needs python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
subs=${1:-1000}
per_topic=${2:-1000}
threads=${3:-4}
data=$(mktemp -d)
trap 'stop_medflowd; rm -rf "$data"' EXIT
# shellcheck disable=SC2086
start_medflowd "$data" --set subscriptions.max_count=$((subs + 10)) ${MEDFLOWD_ARGS:-}
python3 - "$medflowd_url" "$subs" "$per_topic" "$threads" <<'PY'
import http.client, json, sys, threading, time, urllib.parse
url, subs, per_topic, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
u = urllib.parse.urlparse(url)
def conn(): return http.client.HTTPConnection(u.hostname, u.port, timeout=60)
def call(c, method, path, body=None):
    c.request(method, path, body=None if body is None else json.dumps(body),
              headers={"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse(); data = r.read()
    if r.status >= 300: raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
    return json.loads(data) if data else None
c = conn()
topics = [f"ehealth-bench{t}.subject" for t in range(20)]
for t in topics: call(c, "POST", "/topics", {"name": t, "partitions": 2})
ids = []
for i in range(subs):
    t = i % 20
    sel = "eventType = 'create' AND patientReference LIKE 'Patient/%'"
    ids.append(call(c, "POST", "/subscriptions", {"topic": f"ehealth-bench{t}.*", "selector": sel})["id"])
# Append: batches of 500 records, half matching (create with a patient), half not.
t0 = time.monotonic(); appended = 0
for t in topics:
    for start in range(0, per_topic, 500):
        recs = []
        for k in range(start, min(per_topic, start + 500)):
            et = "create" if k % 2 == 0 else "update"
            recs.append({"key": f"k{k % 50}", "value": {"resourceType": "CarePlan", "n": k},
                         "headers": {"eventType": et, "patientReference": f"Patient/{k % 97}",
                                     "resourceProfile": "ehealth-careplan"}})
        call(c, "POST", f"/topics/{t}/records", {"records": recs}); appended += len(recs)
append_s = time.monotonic() - t0
delivered = [0] * threads
def worker(w):
    cc = conn()
    for sid in ids[w::threads]:
        while True:
            r = call(cc, "GET", f"/subscriptions/{sid}/events?max=1000")
            if not r["events"]: break
            delivered[w] += len(r["events"])
            call(cc, "POST", f"/subscriptions/{sid}/ack", {"cursor": r["cursor"]})
t0 = time.monotonic()
ws = [threading.Thread(target=worker, args=(w,)) for w in range(threads)]
for w in ws: w.start()
for w in ws: w.join()
pull_s = time.monotonic() - t0
total = sum(delivered)
expected = subs * ((per_topic + 1) // 2)
print(f"appended {appended} records over 20 topics in {append_s:.2f} s: {appended / append_s:,.0f} records/s (topic API, batches of 500)")
print(f"{subs} subscriptions delivered {total} events (expected {expected}) in {pull_s:.2f} s: {total / pull_s:,.0f} events/s (pull max=1000 + ack, {threads} client threads)")
if total != expected: raise SystemExit("delivered count differs from expected")
PY
