"""A casino payment system's webhook endpoint on loopback, for tests: it verifies each event's
signature as the provider guide tells a receiver to, keeps what it was sent, and can be told
to fail (an HTTP status) or to answer slowly."""

import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from provider.signing import sign_request

PATH = "/payments/withdrawal-events"


class WebhookReceiver:
    def __init__(self, *, secret: str = "webhook-secret"):
        self.secret = secret
        self.received: list[dict] = []  # every POST, verified or not, in arrival order
        self.fail_with: int | None = None  # answer this status instead of 204
        self.fail_body = b""  # and this body with it
        self.delay = 0.0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{PATH}"

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accepted(self) -> list[dict]:
        """The events answered 2xx, each with its verified body."""
        with self.lock:
            return [r for r in self.received if r["answered"] < 300]

    def latest_per_withdrawal(self) -> dict[str, dict]:
        """What a receiver following the guide keeps: the highest event_id per reference."""
        latest: dict[str, dict] = {}
        for r in self.accepted():
            body = r["body"]
            reference = body["withdrawal"]["reference"]
            if reference not in latest or body["event_id"] > latest[reference]["event_id"]:
                latest[reference] = body
        return latest

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                timestamp = self.headers.get("X-Timestamp", "")
                expected = sign_request(
                    secret=receiver.secret, timestamp=timestamp, method="POST", path=self.path, body=raw
                )
                signed = hmac.compare_digest(expected, self.headers.get("X-Signature", ""))
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = 401 if not signed else (receiver.fail_with or 204)
                with receiver.lock:
                    receiver.received.append(
                        {
                            "body": json.loads(raw),
                            "raw": raw,
                            "headers": dict(self.headers),
                            "signed": signed,
                            "answered": status,
                        }
                    )
                body = receiver.fail_body if status == receiver.fail_with else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if body:
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

        return Handler
