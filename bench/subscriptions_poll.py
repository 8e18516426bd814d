#!/usr/bin/env python3
"""The subscribers of bench/subscriptions.sh (standard library only).

usage: subscriptions_poll.py URL SUBSCRIPTIONS DATA_DIR
Creates SUBSCRIPTIONS subscriptions over 20 event topics (50 per topic at 1,000), writes
DATA_DIR/ready, then long-polls each one on its own keep-alive connection (max=1000,
wait_ms=2000) and acks the answer's cursor after every non-empty answer (a 503, the server's
answer when the subscription's actor is too busy to answer within wait_ms + 10 s, is counted
and the poll asked again). Once DATA_DIR/stop
exists, a subscription stops at its first empty answer. Then reads every topic back through
the topic API, computes what each subscription should have got, and writes one line to
DATA_DIR/poll.out. Exits 1 when the delivered count differs from the expected one.

Answers are counted without decoding them (one "partition" key per event; the top-level
cursor comes first, as medflowd writes keys in order): the client must not be what limits the
rate on two cores.
"""
import asyncio
import json
import os
import re
import resource
import sys
import time
import urllib.parse

url, subs, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]
u = urllib.parse.urlparse(url)
HOST, PORT = u.hostname, u.port

# Four selectors, and the same test in python for the expected count.
SELECTORS = [
    ("eventType = 'created'", lambda h: h.get("eventType") == "created"),
    ("eventType = 'updated'", lambda h: h.get("eventType") == "updated"),
    ("patientReference LIKE '%/Patient/%'", lambda h: "/Patient/" in h.get("patientReference", "")),
    ("eventType IN ('created', 'updated') AND resourceProfile = 'ehealth-episodeofcare'",
     lambda h: h.get("eventType") in ("created", "updated")
     and h.get("resourceProfile") == "ehealth-episodeofcare"),
]
HOT = ["ehealth-episodeofcare", "ehealth-episodeofcare.team",
       "ehealth-episodeofcare.managingOrganization"]


async def request(reader, writer, method, path, body=None):
    payload = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(payload)}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    writer.write(head.encode() + b"\r\n" + payload)
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length)


async def connect():
    return await asyncio.open_connection(HOST, PORT, limit=1 << 24)


async def setup():
    r, w = await connect()
    status, body = await request(r, w, "GET", "/topics")
    parts = {t["name"]: t["partitions"] for t in json.loads(body)["topics"]}
    events = sorted(t for t in parts if t.startswith("ehealth-") and t not in HOT)
    chosen = [(t, parts[t]) for t in HOT + events[: 20 - len(HOT)]]
    assert len(chosen) == 20, f"only {len(chosen)} event topics"
    made = []
    for i in range(subs):
        topic = chosen[i % 20][0]
        sel = SELECTORS[(i // 20) % len(SELECTORS)][0]
        status, body = await request(r, w, "POST", "/subscriptions", {"topic": topic, "selector": sel})
        if status != 201:
            raise SystemExit(f"create: {status} {body[:200]!r}")
        made.append((json.loads(body)["id"], topic, (i // 20) % len(SELECTORS)))
    w.close()
    return chosen, made


CURSOR = re.compile(rb'^\{"cursor":"([A-Za-z0-9_-]*)"')
delivered = 0
last = 0.0
unanswered = 0  # polls answered 503 (overload: asked again)


async def poll(sid):
    global delivered, last, unanswered
    r, w = await connect()
    while True:
        stopping = os.path.exists(os.path.join(data, "stop"))
        status, body = await request(r, w, "GET", f"/subscriptions/{sid}/events?max=1000&wait_ms=2000")
        if status == 503:  # the subscription's actor did not answer within wait_ms + 10 s
            unanswered += 1
            continue
        if status != 200:
            raise SystemExit(f"pull: {status} {body[:200]!r}")
        n = body.count(b'"partition":')
        if n == 0:
            if stopping:
                break
            continue
        delivered += n
        last = time.time()
        cursor = CURSOR.match(body).group(1).decode()
        status, body = await request(r, w, "POST", f"/subscriptions/{sid}/ack", {"cursor": cursor})
        if status != 204:
            raise SystemExit(f"ack: {status} {body[:200]!r}")
    w.close()


async def expected(chosen, made):
    r, w = await connect()
    headers = {}
    for t, parts in chosen:
        headers[t] = []
        for p in range(parts):
            offset = 0
            while True:
                status, body = await request(r, w, "GET", f"/topics/{t}/partitions/{p}/records?offset={offset}&max=10000")
                recs = json.loads(body)["records"]
                if not recs:
                    break
                headers[t] += [rec["headers"] for rec in recs]
                offset = recs[-1]["offset"] + 1
    w.close()
    return sum(sum(1 for h in headers[topic] if SELECTORS[k][1](h)) for _, topic, k in made)


async def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    chosen, made = await setup()
    open(os.path.join(data, "ready"), "w").close()
    await asyncio.gather(*(poll(sid) for sid, _, _ in made))
    go = float(open(os.path.join(data, "go")).read())
    want = await expected(chosen, made)
    span = max(last - go, 1e-9)
    line = (f"{subs} subscriptions over 20 topics delivered {delivered} events (expected {want}) "
            f"in {span:.2f} s from the first job: {delivered / span:,.0f} events/s "
            f"(long poll wait_ms=2000 max=1000 + ack; {unanswered} polls answered 503 and asked again)")
    print(line)
    with open(os.path.join(data, "poll.out"), "w") as f:
        f.write(line + "\n")
    if delivered != want:
        sys.exit(1)


asyncio.run(main())
