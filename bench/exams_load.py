#!/usr/bin/python3
"""Load for bench/exams.sh (the exams flow's results inbox).

  exams_load.py prepare URL N RESULT_KEY OUT_DIR
      one active patient (e-mail not verified: its notifications are recorded as not
      deliverable, so the figure is the inbox's own), N Started exams over keep-alive HTTP,
      and N result files written into OUT_DIR (tests/e2e/exam_results.py's format)
  exams_load.py s3put ENDPOINT BUCKET PREFIX DIR      uploads DIR/* as PREFIX<name>
  exams_load.py s3count ENDPOINT BUCKET PREFIX        keys under PREFIX (all pages)
  exams_load.py s3ceiling ENDPOINT BUCKET N           s3rver's own rate: N objects of a
      result file's size put, got and deleted one after another on one keep-alive
      connection; prints the (put+get+delete)/s rate

s3rver checks the access key id but not SigV4 signatures, so requests carry an Authorization
header of the right shape without computing a signature.
"""
import http.client
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from exam_results import result_file  # noqa: E402

AUTH = ("AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64)


S3_HEADERS = {"Authorization": AUTH, "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
              "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())}


def conn_of(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def call(c, method, path, body=None, headers=None):
    h = dict(headers or {})
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    return r.status, data


def prepare(url, n, key, out):
    c = conn_of(url)
    st, body = call(c, "POST", "/patients", {"document": "bench-1", "name": "Bench Patient",
                                             "status": "active", "email": "bench@example.org"})
    if st != 201:
        sys.exit("POST /patients: %d %s" % (st, body))
    os.makedirs(out, exist_ok=True)
    for i in range(n):
        st, body = call(c, "POST", "/exam/new", {"document": "bench-1", "exam_type": 1})
        if st != 200:
            sys.exit("POST /exam/new: %d %s" % (st, body))
        exam = json.loads(body)["data"]["exam_id"]
        st, body = call(c, "POST", "/exam/start",
                        {"document": "bench-1", "exam_id": exam, "exam_type": 1})
        if st != 200:
            sys.exit("POST /exam/start: %d %s" % (st, body))
        token = json.loads(body)["data"]
        with open(os.path.join(out, "r%06d.json" % i), "w") as f:
            f.write(result_file(key, token, exam, "res-" + exam))


def s3_path(bucket, key):
    return "/" + bucket + "/" + urllib.parse.quote(key)


def s3put(endpoint, bucket, prefix, d):
    c = conn_of(endpoint)
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        st, body = call(c, "PUT", s3_path(bucket, prefix + name), data, S3_HEADERS)
        if st != 200:
            sys.exit("PUT %s: %d %s" % (name, st, body))


def s3count(endpoint, bucket, prefix):
    c = conn_of(endpoint)
    n, token = 0, None
    while True:
        q = {"list-type": "2", "prefix": prefix}
        if token:
            q["continuation-token"] = token
        st, body = call(c, "GET", "/" + bucket + "?" + urllib.parse.urlencode(q), None,
                        S3_HEADERS)
        text = body.decode()
        n += len(re.findall("<Key>", text))
        m = re.search("<NextContinuationToken>([^<]*)</NextContinuationToken>", text)
        if not m or "<IsTruncated>true</IsTruncated>" not in text:
            return n
        token = m.group(1)


def s3ceiling(endpoint, bucket, n):
    c = conn_of(endpoint)
    data = result_file("k", "x" * 400, "exam-ceiling", "res-ceiling").encode()
    start = time.monotonic()
    for i in range(n):
        path = s3_path(bucket, "ceiling/o%06d.json" % i)
        for method, body in (("PUT", data), ("GET", None), ("DELETE", None)):
            st, _ = call(c, method, path, body, S3_HEADERS)
            if st not in (200, 204):
                sys.exit("%s %s: %d" % (method, path, st))
    return n / (time.monotonic() - start)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "prepare":
        prepare(args[0], int(args[1]), args[2], args[3])
    elif cmd == "s3put":
        s3put(*args)
    elif cmd == "s3count":
        print(s3count(*args))
    elif cmd == "s3ceiling":
        print("%.0f" % s3ceiling(args[0], args[1], int(args[2])))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
