#!/usr/bin/python3
"""A stand-in SMS gateway for the exams e2e test: a real HTTP server on loopback that writes
every POST body it gets to OUT_DIR/NNNN.json and answers 202; with --fail-first it answers 503
to the first request (so the sender's retry is seen). Prints "listening on 127.0.0.1:PORT".
"""
import argparse
import http.server
import os
import threading

lock = threading.Lock()
state = {"n": 0}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--fail-first", action="store_true")
    a = p.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state["n"] += 1
                n = state["n"]
            path = os.path.join(a.out, "%04d.json" % n)
            with open(path + ".tmp", "wb") as f:
                f.write(body)
            os.rename(path + ".tmp", path)
            status = 503 if a.fail_first and n == 1 else 202
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
