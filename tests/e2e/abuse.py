#!/usr/bin/env python3
"""Crafted requests against a running medflowd (tests/e2e/abuse.sh drives it), one kind at a
time, with medflowd's RSS (/proc/PID/status) and /healthz latency (a new connection per probe,
as an orchestrator's probe does) measured during and after each. Every probe must get a 4xx or
5xx answer or a closed connection (the reads: a 200 capped by bytes), /healthz must answer 200
within --healthz-ms, RSS must come back under --rss-after-mb. Prints one line of figures per
phase; exits 1 naming the first broken expectation.

The abusive clients stand for clients on other machines: here they share medflowd's cores, so
they run at a lower CPU priority (nice 10) than medflowd and the /healthz prober, which is
started before this process lowers its own priority."""

import argparse
import json
import multiprocessing
import os
import resource
import selectors
import socket
import sys
import threading
import time

FAILURES = []


def fail(msg):
    FAILURES.append(msg)
    print("FAIL: " + msg, flush=True)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def request(host, port, raw, timeout=10.0):
    """One request on a new connection: (status or None when closed without one, body bytes)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        while True:
            try:
                chunk = s.recv(1 << 16)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                head = data[:head_end].decode("latin-1")
                length = 0
                for line in head.split("\r\n")[1:]:
                    k, _, v = line.partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v.strip())
                if len(data) >= head_end + 4 + length:
                    break
        if not data.startswith(b"HTTP/1."):
            return None, b""
        status = int(data[9:12])
        return status, data[data.find(b"\r\n\r\n") + 4:]
    finally:
        s.close()


def get(host, port, path):
    raw = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    return request(host, port, raw)


def post(host, port, path, body):
    raw = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    return request(host, port, raw, timeout=60.0)


def _prober(host, port, every, conn):
    """The /healthz prober's process: on "start", probes every `every` seconds until "stop",
    then sends its samples; "quit" ends it."""
    while conn.recv() == "start":
        samples = []
        while True:
            t0 = time.monotonic()
            try:
                status, _ = get(host, port, "/healthz")
            except OSError:
                status = None
            samples.append((time.monotonic() - t0, status))
            if conn.poll(every):
                break
        conn.recv()  # "stop"
        conn.send(samples)


class Prober:
    """The process that probes /healthz, started before this script lowers its priority."""

    def __init__(self, host, port, every=0.025):
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(target=_prober, args=(host, port, every, child),
                                            daemon=True)
        self.proc.start()


PROBER = [None]


class HealthProbe:
    """GET /healthz on a new connection every 25 ms, in the prober's process (so the load this
    script makes does not delay it), while running."""

    def __init__(self, host, port):
        self.samples = []  # (seconds, status)

    def __enter__(self):
        PROBER[0].conn.send("start")
        return self

    def __exit__(self, *exc):
        PROBER[0].conn.send("stop")
        self.samples = PROBER[0].conn.recv()

    def p99_ms(self):
        """The 99th percentile of the probes' times (nearest rank)."""
        times = sorted(t for t, _ in self.samples)
        return round(times[max(0, -(-len(times) * 99 // 100) - 1)] * 1000, 1) if times else 0.0

    def check(self, phase, limit_ms):
        if not self.samples:
            fail(f"{phase}: no /healthz probe ran")
            return 0.0
        worst = max(t for t, _ in self.samples) * 1000
        bad = [s for _, s in self.samples if s != 200]
        if bad:
            fail(f"{phase}: /healthz answered {bad[:5]} ({len(bad)} of {len(self.samples)} probes)")
        if worst >= limit_ms:
            fail(f"{phase}: /healthz took {worst:.1f} ms (limit {limit_ms} ms)")
        return worst


def settle_rss(pid, limit_mb, seconds=10.0):
    """RSS once it is under the limit (glibc gives freed memory back lazily), or after `seconds`."""
    deadline = time.monotonic() + seconds
    r = rss_mb(pid)
    while r >= limit_mb and time.monotonic() < deadline:
        time.sleep(0.2)
        r = rss_mb(pid)
    return r


# -- idle connections ---------------------------------------------------------------------------

def open_idle(args):
    """A worker: opens n connections, waits, and says of each whether it is held (open, no
    bytes), refused with a status, or closed without one."""
    host, port, n, hold_s, conn = args
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    refused_connect = 0
    for _ in range(n):
        s = socket.socket()
        s.setblocking(True)
        s.settimeout(5)
        try:
            s.connect((host, port))
        except OSError:
            refused_connect += 1
            s.close()
            continue
        s.setblocking(False)
        socks.append(s)
    conn.send("opened")
    conn.recv()  # the parent's word: the hold is over
    held, statuses, closed = 0, {}, 0
    for s in socks:
        try:
            data = s.recv(4096)
        except BlockingIOError:
            held += 1
            s.close()
            continue
        except OSError:
            closed += 1
            s.close()
            continue
        if data.startswith(b"HTTP/1."):
            st = int(data[9:12])
            statuses[st] = statuses.get(st, 0) + 1
        else:
            closed += 1
        s.close()
    conn.send({"held": held, "statuses": statuses, "closed": closed,
               "connect_failed": refused_connect})


def phase_idle(a):
    per = 9000  # below the 20,000-descriptor hard limit of this machine, per process
    shares = [min(per, a.idle - i) for i in range(0, a.idle, per)]
    pipes, procs = [], []
    t0 = time.monotonic()
    for n in shares:
        parent, child = multiprocessing.Pipe()
        p = multiprocessing.Process(target=open_idle, args=((a.host, a.port, n, a.hold, child),))
        p.start()
        pipes.append(parent)
        procs.append(p)
    for p in pipes:
        p.recv()
    opened_s = time.monotonic() - t0
    with HealthProbe(a.host, a.port) as hp:
        time.sleep(a.hold)
        rss_during = rss_mb(a.pid)
    for p in pipes:
        p.send("done")
    total = {"held": 0, "statuses": {}, "closed": 0, "connect_failed": 0}
    for p in pipes:
        r = p.recv()
        total["held"] += r["held"]
        total["closed"] += r["closed"]
        total["connect_failed"] += r["connect_failed"]
        for k, v in r["statuses"].items():
            total["statuses"][k] = total["statuses"].get(k, 0) + v
    for p in procs:
        p.join()
    worst = hp.check("idle connections", a.healthz_ms)
    if not alive(a.pid):
        fail("idle connections: medflowd died")
        return
    ok_status = all(400 <= k < 600 for k in total["statuses"])
    if not ok_status:
        fail(f"idle connections: answers other than 4xx/5xx: {total['statuses']}")
    if a.max_connections and total["held"] > a.max_connections + a.reserved:
        fail(f"idle connections: {total['held']} held open, over the cap "
             f"{a.max_connections} + {a.reserved}")
    if a.max_connections and a.idle > a.max_connections + a.reserved and \
            total["statuses"].get(503, 0) == 0:
        fail("idle connections: over the cap, yet no connection got a 503")
    rss_after = settle_rss(a.pid, a.rss_after_mb)
    report("idle", connections=a.idle, opened_s=round(opened_s, 2), held=total["held"],
           answered=total["statuses"], closed=total["closed"],
           connect_failed=total["connect_failed"], healthz_probes=len(hp.samples),
           healthz_worst_ms=round(worst, 1), healthz_p99_ms=hp.p99_ms(),
           rss_during_mb=round(rss_during, 1), rss_after_mb=round(rss_after, 1))
    if rss_after >= a.rss_after_mb:
        fail(f"idle connections: RSS {rss_after:.1f} MB after (limit {a.rss_after_mb} MB)")


# -- half-sent bodies ---------------------------------------------------------------------------

def phase_bodies(a):
    sel = selectors.DefaultSelector()
    head = (f"POST /topics/{a.topic}/records HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {a.body_bytes}\r\n\r\n").encode()
    half = a.body_bytes // 2
    chunk = b"[" * 65536
    conns = {}
    t0 = time.monotonic()
    for _ in range(a.bodies):
        s = socket.socket()
        s.connect((a.host, a.port))
        s.setblocking(False)
        st = {"out": head, "body_left": half, "status": None, "closed": False, "in": b""}
        conns[s.fileno()] = (s, st)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, st)
    rss_max = 0.0
    deadline = time.monotonic() + a.body_wait
    open_left = len(conns)
    next_rss = 0.0
    with HealthProbe(a.host, a.port) as hp:
        while open_left and time.monotonic() < deadline:
            for key, ev in sel.select(timeout=0.2):
                s, st = key.fileobj, key.data
                if ev & selectors.EVENT_READ:
                    try:
                        data = s.recv(4096)
                    except OSError:
                        data = b""
                    if data:
                        st["in"] += data
                        if st["status"] is None and st["in"].startswith(b"HTTP/1.") and \
                                len(st["in"]) >= 12:
                            st["status"] = int(st["in"][9:12])
                    else:
                        st["closed"] = True
                    if st["status"] is not None or st["closed"]:
                        sel.unregister(s)
                        s.close()
                        open_left -= 1
                        continue
                if ev & selectors.EVENT_WRITE:
                    try:
                        if st["out"]:
                            n = s.send(st["out"])
                            st["out"] = st["out"][n:]
                        elif st["body_left"] > 0:
                            n = s.send(chunk[:min(len(chunk), st["body_left"])])
                            st["body_left"] -= n
                    except BlockingIOError:
                        pass
                    except OSError:
                        pass
                    if not st["out"] and st["body_left"] <= 0:
                        sel.modify(s, selectors.EVENT_READ, st)  # half sent: stop writing
            if time.monotonic() >= next_rss:  # not at every turn: it costs this loop CPU
                rss_max = max(rss_max, rss_mb(a.pid))
                next_rss = time.monotonic() + 0.05
    elapsed = time.monotonic() - t0
    statuses, closed, unanswered = {}, 0, 0
    for s, st in conns.values():
        if st["status"] is not None:
            statuses[st["status"]] = statuses.get(st["status"], 0) + 1
        elif st["closed"]:
            closed += 1
        else:
            unanswered += 1
            try:
                sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
    worst = hp.check("half-sent bodies", a.healthz_ms)
    if not alive(a.pid):
        fail("half-sent bodies: medflowd died")
        return
    if unanswered:
        fail(f"half-sent bodies: {unanswered} neither answered nor closed within {a.body_wait} s")
    if not all(400 <= k < 600 for k in statuses):
        fail(f"half-sent bodies: answers other than 4xx/5xx: {statuses}")
    rss_after = settle_rss(a.pid, a.rss_after_mb)
    report("bodies", bodies=a.bodies, body_bytes=a.body_bytes, sent_each=half,
           answered=statuses, closed=closed, seconds=round(elapsed, 1),
           healthz_probes=len(hp.samples), healthz_worst_ms=round(worst, 1),
           healthz_p99_ms=hp.p99_ms(), rss_max_mb=round(rss_max, 1),
           rss_after_mb=round(rss_after, 1))
    if rss_after >= a.rss_after_mb:
        fail(f"half-sent bodies: RSS {rss_after:.1f} MB after (limit {a.rss_after_mb} MB)")


# -- reads without a count limit --------------------------------------------------------------

def fill_topic(a):
    """Appends read_mb of records (record_kb each) to partition 0 of the topic."""
    value = "x" * (a.record_kb * 1024)
    per_request = max(1, (768 * 1024) // (a.record_kb * 1024 + 64))
    records = (a.read_mb * 1024) // a.record_kb
    body = json.dumps({"records": [{"key": "k", "value": value, "partition": 0}] * per_request})
    written = 0
    while written < records:
        st, text = post(a.host, a.port, f"/topics/{a.topic}/records", body.encode())
        if st != 200:
            fail(f"reads: filling the topic answered {st}: {text[:200]!r}")
            return False
        written += per_request
    return True


FILLED = [False]


def phase_reads(a):
    if not FILLED[0] and not fill_topic(a):
        return
    FILLED[0] = True
    results = [None] * a.reads
    rss_max = [0.0]

    def one(i):
        results[i] = get(a.host, a.port, f"/topics/{a.topic}/partitions/0/records?offset=0&max=10000")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.reads)]
    t0 = time.monotonic()
    with HealthProbe(a.host, a.port) as hp:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            rss_max[0] = max(rss_max[0], rss_mb(a.pid))
            time.sleep(0.05)
    elapsed = time.monotonic() - t0
    worst = hp.check("unbounded reads", a.healthz_ms)
    sizes = []
    for st, body in results:
        if st != 200:
            fail(f"unbounded reads: answered {st}")
            continue
        sizes.append(len(body))
        doc = json.loads(body)
        if "next" not in doc or doc["next"].get("partition") != 0:
            fail("unbounded reads: the answer does not say where to continue")
        elif doc["records"] and doc["next"]["offset"] != doc["records"][-1]["offset"] + 1:
            fail("unbounded reads: next is not after the last record")
        # The cap counts record bytes; the JSON around them adds a little.
        if len(body) > a.fetch_max_bytes * 1.1 + 64 * 1024:
            fail(f"unbounded reads: an answer of {len(body)} bytes (cap {a.fetch_max_bytes})")
    rss_after = settle_rss(a.pid, a.rss_after_mb)
    report("reads", reads=a.reads, topic_mb=a.read_mb, answer_bytes=sizes,
           seconds=round(elapsed, 2), healthz_probes=len(hp.samples),
           healthz_worst_ms=round(worst, 1), healthz_p99_ms=hp.p99_ms(),
           rss_max_mb=round(rss_max[0], 1), rss_after_mb=round(rss_after, 1))
    if rss_max[0] >= a.rss_after_mb:
        fail(f"unbounded reads: RSS {rss_max[0]:.1f} MB during (limit {a.rss_after_mb} MB)")


# -- a client that does not read ----------------------------------------------------------------

def phase_nonreader(a):
    # Its answers are reads of the topic: large ones, once the topic has records.
    if not FILLED[0] and not fill_topic(a):
        return
    FILLED[0] = True
    s = socket.create_connection((a.host, a.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    req = (f"GET /topics/{a.topic}/partitions/0/records?offset=0&max=10000 HTTP/1.1\r\n"
           f"Host: {a.host}:{a.port}\r\n\r\n").encode()
    s.sendall(req * a.pipelined)
    t0 = time.monotonic()
    rss_max = 0.0
    with HealthProbe(a.host, a.port) as hp:
        while time.monotonic() - t0 < a.send_timeout_ms / 1000.0 + 1.5:
            rss_max = max(rss_max, rss_mb(a.pid))
            time.sleep(0.1)
    # Now read: what the kernel holds comes, then the end the server put there.
    s.settimeout(5)
    got, ended = 0, False
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                ended = True
                break
            got += len(chunk)
    except ConnectionResetError:
        ended = True
    except socket.timeout:
        pass
    s.close()
    worst = hp.check("non-reading client", a.healthz_ms)
    if not ended:
        fail("non-reading client: the connection was still open after the send timeout")
    rss_after = settle_rss(a.pid, a.rss_after_mb)
    report("nonreader", pipelined=a.pipelined, send_timeout_ms=a.send_timeout_ms,
           closed=ended, bytes_received=got, healthz_probes=len(hp.samples),
           healthz_worst_ms=round(worst, 1), healthz_p99_ms=hp.p99_ms(),
           rss_max_mb=round(rss_max, 1), rss_after_mb=round(rss_after, 1))


# -- deep nesting -------------------------------------------------------------------------------

def phase_deep(a):
    value = "[" * a.deep + "]" * a.deep
    body = ('{"records":[{"value":' + value + '}]}').encode()
    t0 = time.monotonic()
    try:
        st, text = post(a.host, a.port, f"/topics/{a.topic}/records", body)
    except OSError:
        st, text = None, b""
    elapsed = time.monotonic() - t0
    time.sleep(0.3)
    if not alive(a.pid):
        fail(f"deep nesting ({a.deep} levels): medflowd died")
        return
    if st is not None and not 400 <= st < 500:
        fail(f"deep nesting ({a.deep} levels): answered {st}, not 4xx: {text[:200]!r}")
    hst, _ = get(a.host, a.port, "/healthz")
    if hst != 200:
        fail(f"deep nesting: /healthz answered {hst} afterwards")
    report("deep", levels=a.deep, status=st, seconds=round(elapsed, 3),
           error=text[:160].decode("utf-8", "replace"), rss_after_mb=round(rss_mb(a.pid), 1))


def report(phase, **figures):
    print(json.dumps({"bus": ARGS.bus, "phase": phase, **figures}), flush=True)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--bus", default="embedded")
    p.add_argument("--topic", default="abuse")
    p.add_argument("--phases", default="deep,idle,bodies,reads,nonreader")
    p.add_argument("--deep", type=int, default=59000)
    p.add_argument("--idle", type=int, default=20000)
    p.add_argument("--hold", type=float, default=3.0)
    p.add_argument("--max-connections", type=int, default=0)  # medflowd's, to check the cap
    p.add_argument("--reserved", type=int, default=32)
    p.add_argument("--bodies", type=int, default=4000)
    p.add_argument("--body-bytes", type=int, default=1 << 20)
    p.add_argument("--body-wait", type=float, default=12.0)
    p.add_argument("--reads", type=int, default=5)
    p.add_argument("--read-mb", type=int, default=300)
    p.add_argument("--record-kb", type=int, default=100)
    p.add_argument("--fetch-max-bytes", type=int, default=1 << 20)
    p.add_argument("--pipelined", type=int, default=50)
    p.add_argument("--send-timeout-ms", type=int, default=30000)
    p.add_argument("--healthz-ms", type=float, default=100.0)
    p.add_argument("--rss-after-mb", type=float, default=200.0)
    ARGS = p.parse_args()
    PROBER[0] = Prober(ARGS.host, ARGS.port)
    os.nice(10)
    phases = {"deep": phase_deep, "idle": phase_idle, "bodies": phase_bodies,
              "reads": phase_reads, "nonreader": phase_nonreader}
    for name in ARGS.phases.split(","):
        phases[name](ARGS)
        if not alive(ARGS.pid):
            break
    PROBER[0].conn.send("quit")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
