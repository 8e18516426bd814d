#!/usr/bin/env python3
# A service manager's notification socket for tests: binds a unix datagram socket (a path, or an
# abstract name given as @name, as $NOTIFY_SOCKET writes them), prints "listening" once bound,
# then every line of every datagram received, as it comes (flushed), until killed.
import os
import socket
import sys

name = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if name.startswith("@"):
    s.bind("\0" + name[1:])
else:
    if os.path.exists(name):
        os.unlink(name)
    s.bind(name)
    os.chmod(name, 0o777)  # the daemon may run as another user
print("listening", flush=True)
while True:
    data = s.recv(65536)
    for line in data.decode("utf-8", "replace").splitlines():
        print(line, flush=True)
