#!/usr/bin/python3
"""An S3 endpoint that only checks Signature V4 (s3rver does not), on loopback, for the tests.

Each request's signature is recomputed with botocore's own S3 signer (Debian
python3-botocore) from the request as received and the secret given on the command line. A
mismatch, an unsigned x-amz-* header, or a body whose SHA-256 is not x-amz-content-sha256 is
answered as S3 answers it (403 SignatureDoesNotMatch, 400 XAmzContentSHA256Mismatch); a good
request gets 200 with a minimal S3 answer of its kind. Prints "listening on 127.0.0.1:PORT".
"""
import hashlib
import http.server
import sys

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class Signer(S3SigV4Auth):
    def _modify_request_before_signing(self, request):
        pass  # sign exactly the headers the client signed, as they arrived


def error(code, message):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s'
            '</Message></Error>' % (code, message)).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    access_key = secret_key = region = None

    def check(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return 403, error("AccessDenied", "no Signature V4")
        fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        signed = fields["SignedHeaders"].split(";")
        credential = fields["Credential"].split("/")
        if credential[0] != self.access_key:
            return 403, error("InvalidAccessKeyId", "unknown access key")
        if credential[2] != self.region or credential[3] != "s3":
            return 400, error("AuthorizationHeaderMalformed", "wrong region or service")
        for name in self.headers.keys():
            if name.lower().startswith("x-amz-") and name.lower() not in signed:
                return 403, error("AccessDenied", "unsigned header " + name)
        if hashlib.sha256(body).hexdigest() != self.headers.get("x-amz-content-sha256"):
            return 400, error("XAmzContentSHA256Mismatch", "payload hash")
        headers = {h: self.headers[h] for h in signed}
        request = AWSRequest(method=self.command, url="http://" + self.headers["Host"] + self.path,
                             data=body, headers=headers)
        request.context["timestamp"] = self.headers["x-amz-date"]
        signer = Signer(Credentials(self.access_key, self.secret_key), "s3", self.region)
        expected = signer.signature(signer.string_to_sign(
            request, signer.canonical_request(request)), request)
        if expected != fields["Signature"]:
            return 403, error("SignatureDoesNotMatch", "The request signature we calculated "
                              "does not match the signature you provided.")
        if self.command == "GET" and "list-type=2" in self.path:
            return 200, (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
                         b'<IsTruncated>false</IsTruncated></ListBucketResult>')
        if self.command == "PUT" and "x-amz-copy-source" in self.headers:
            return 200, b"<CopyObjectResult><ETag>&quot;e&quot;</ETag></CopyObjectResult>"
        if self.command == "DELETE":
            return 204, b""
        return 200, b"signed ok" if self.command == "GET" else b""

    def answer(self):
        status, payload = self.check()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and status != 204:
            self.wfile.write(payload)

    do_GET = do_PUT = do_DELETE = do_HEAD = answer

    def log_message(self, *args):
        pass


def main():
    Handler.access_key, Handler.secret_key, Handler.region = sys.argv[1:4]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening on 127.0.0.1:%d" % server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
