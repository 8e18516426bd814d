#!/usr/bin/python3
"""Result files for the exams e2e tests and the bench: what the exam execution team drops into
<root>/<YYYY_MM>/completed/ (README: result files).

  exam_results.py file KEY EXAM_TOKEN EXAM_ID RESULT_ID [--forge]   print one result file
  exam_results.py bulk KEY DIR [--prefix P]                          read "EXAM_ID EXAM_TOKEN"
      lines on stdin and write DIR/<P><n>.json for each, atomically (a dot file renamed in)

The result token is HS256 over KEY with claims exam_id, result_id, issued_by, iat, exp;
--forge signs it with another key.
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt_hs256(key, claims):
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64url(sig)


def result_file(key, exam_token, exam_id, result_id):
    now = int(time.time())
    token = jwt_hs256(key, {"exam_id": exam_id, "result_id": result_id, "issued_by": "lab-e2e",
                            "iat": now, "exp": now + 3600})
    content = base64.b64encode(("result of " + exam_id + ": all values normal\n").encode())
    return json.dumps({"exam_token": exam_token, "result_token": token,
                       "content_type": "text/plain", "content": content.decode()})


def main():
    cmd = sys.argv[1]
    if cmd == "file":
        key, exam_token, exam_id, result_id = sys.argv[2:6]
        if "--forge" in sys.argv:
            key = "not-the-key"
        print(result_file(key, exam_token, exam_id, result_id))
    elif cmd == "bulk":
        key, out = sys.argv[2], sys.argv[3]
        prefix = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--prefix" else "r"
        os.makedirs(out, exist_ok=True)
        for n, line in enumerate(sys.stdin):
            exam_id, exam_token = line.split()
            name = "%s%05d.json" % (prefix, n)
            tmp = os.path.join(out, "." + name + ".part")
            with open(tmp, "w") as f:
                f.write(result_file(key, exam_token, exam_id, "res-" + exam_id))
            os.rename(tmp, os.path.join(out, name))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
