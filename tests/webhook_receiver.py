"""A system that receives the portal's webhooks, for tests: a small threaded
HTTP server on a spare port that verifies every request on its own with the
`standardwebhooks` library (nothing of the portal's code), and records what
it verified. On demand it answers 500, is slow, or is down (stopped; started
again on the same port)."""

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

from tests.faults import spare_port


class Receiver:
    def __init__(self, secret: str = ""):
        self.port = spare_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.secret = secret
        self.mode = "ok"  # "ok", "500" or "slow"
        self.slow_seconds = 3.0
        self.verified: list[dict] = []  # {"id", "type", "payload"} of each 2xx answer, in arrival order
        self.requests = 0
        self.rejected: list[str] = []
        self._lock = threading.Lock()
        self._server = None

    # --- what arrived

    def ids(self) -> list[str]:
        return [hit["id"] for hit in self.verified]

    def types(self) -> list[str]:
        return [hit["type"] for hit in self.verified]

    # --- running

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    receiver.requests += 1
                if receiver.mode == "slow":
                    time.sleep(receiver.slow_seconds)
                if receiver.mode == "500":
                    self._answer(500)
                    return
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                except Exception as exc:  # noqa: BLE001 - any failure to verify is a rejection
                    with receiver._lock:
                        receiver.rejected.append(f"{type(exc).__name__}: {exc}")
                    self._answer(401)
                    return
                with receiver._lock:
                    receiver.verified.append({"id": self.headers["webhook-id"], "type": payload["type"],
                                              "payload": payload, "body": json.loads(body)})
                self._answer(204)

            def _answer(self, status):
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the portal gave up waiting (a slow answer)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextlib.contextmanager
def receiving(secret: str = ""):
    receiver = Receiver(secret).start()
    try:
        yield receiver
    finally:
        receiver.stop()
