"""An HR endpoint on a real local HTTP server, for the push tests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from app.attendance.push import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

SECRET = "s3cret-钥匙"


class Receiver:
    """An HR endpoint: checks the signature, records punches, fails the requests it is told to."""

    def __init__(self, fail=lambda n: False):
        self.punches: list[dict] = []
        self.requests = 0
        self.bad_signatures = 0
        self.arrival: dict[str, float] = {}
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests += 1
                if not verify(SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER]):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                elif receiver.fail(receiver.requests):
                    self.send_response(503)
                else:
                    for p in json.loads(body)["punches"]:
                        receiver.punches.append(p)
                        receiver.arrival[p["uuid"]] = time.monotonic()
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hr/punches"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
