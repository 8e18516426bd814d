#!/usr/bin/env python3
"""A webhook receiver for the subscriptions e2e tests (standard library only).

usage: webhook_receiver.py LOG PORT_FILE
Listens on a free loopback port (written to PORT_FILE) and appends one JSON line per request
to LOG: {"path", "status", "body", "headers"} (status 0: never answered). By path:
  /ok?fail=N  the first N requests to this path answer 500, the later ones 200
  /fail       always 500
  /hang       never answers (the connection stays open)
"""
import http.server
import json
import sys
import threading
import time
import urllib.parse

log_path, port_file = sys.argv[1], sys.argv[2]
lock = threading.Lock()
seen = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, body, status):
        with lock, open(log_path, "a") as f:
            f.write(json.dumps({"path": self.path, "status": status,
                                "body": body.decode("utf-8", "replace"),
                                "headers": {k: v for k, v in self.headers.items()}}) + "\n")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        url = urllib.parse.urlparse(self.path)
        if url.path == "/hang":
            self.record(body, 0)
            time.sleep(3600)
            return
        with lock:
            seen[self.path] = seen.get(self.path, 0) + 1
            count = seen[self.path]
        fail = int(urllib.parse.parse_qs(url.query).get("fail", ["0"])[0])
        status = 500 if url.path == "/fail" or count <= fail else 200
        self.record(body, status)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
