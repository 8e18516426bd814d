#!/usr/bin/python3
"""A real SMTP server on loopback for the tests: aiosmtpd (Debian python3-aiosmtpd).

Every message it accepts is written to OUT_DIR as NNNN.eml (the DATA bytes as received) and
NNNN.json (the envelope: mail_from, rcpt_tos), each renamed into place when complete. It
prints "listening on 127.0.0.1:PORT" once it serves. Recipients at reject.test are refused
with 550. Modes: plain, starttls (STARTTLS offered and required), implicit (TLS from the first
byte); --user/--password require AUTH with those credentials.
"""
import argparse
import json
import os
import signal
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith("@reject.test"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            base = os.path.join(self.out_dir, "%04d" % self.count)
        data = envelope.original_content or envelope.content
        for path, payload in ((base + ".eml", data),
                              (base + ".json", json.dumps({
                                  "mail_from": envelope.mail_from,
                                  "rcpt_tos": envelope.rcpt_tos,
                                  "tls": server.transport.get_extra_info("ssl_object") is not None,
                                  "auth": bool(session.authenticated),
                              }).encode())):
            with open(path + ".tmp", "wb") as f:
                f.write(payload)
            os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=["plain", "starttls", "implicit"], default="plain")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()

    kwargs = {"hostname": "127.0.0.1", "port": free_port(), "decode_data": False}
    context = None
    if a.mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)
    if a.mode == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    elif a.mode == "implicit":
        kwargs.update(ssl_context=context)
    if a.user:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == a.user and auth_data.password.decode() == a.password
            return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535
        # aiosmtpd's auth_require_tls only knows STARTTLS, and would hide AUTH on an implicit
        # TLS connection.
        kwargs.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=a.mode == "starttls")

    controller = Controller(Sink(a.out), **kwargs)
    controller.start()
    print("listening on 127.0.0.1:%d" % controller.port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    sys.exit(main())
