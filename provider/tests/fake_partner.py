"""A fake partner casino on loopback that speaks the wallet contract: checks our request
signatures, keeps balances, is idempotent per transaction_id, signs its answers, and can be
told to be down (503), slow, or to drop the connection after doing the work."""

import hmac
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from provider.signing import sign_request, sign_response


class FakePartner:
    def __init__(self, *, provider_code="ourgames", secret="partner-secret", balances=None):
        self.provider_code, self.secret = provider_code, secret
        self.balances: dict[str, int] = dict(balances or {})
        self.answers: dict[str, tuple[int, dict]] = {}  # transaction_id -> first answer
        self.debits: dict[str, tuple[str, int]] = {}
        self.rolled_back: set[str] = set()
        self.tombstones: set[str] = set()
        self.applied: Counter[str] = Counter()  # money movements per transaction_id
        self.received: Counter[str] = Counter()  # requests per transaction_id
        self.down_until = 0.0
        self.down_endpoints = {"authenticate", "balance", "debit", "credit", "rollback"}
        self.delay = 0.0
        self.delay_endpoints = {"authenticate", "balance", "debit", "credit", "rollback"}
        self.drop_after_processing = False
        # The operator switched us off: these endpoints answer a signed 403 PROVIDER_DISABLED.
        self.disabled_endpoints: set[str] = set()
        # Credits refused with a final code that is not stored (a later resend is judged anew).
        self.refuse_credits_with: str | None = None
        # What a broken or replayed answer looks like: another transaction_id, an old
        # timestamp, a balance that is not an integer.
        self.answer_transaction_id: str | None = None
        self.answer_age_seconds = 0
        self.answer_player_id: str | None = None
        # Answered instead of the real answer, after the call was processed: (status, code),
        # e.g. a bug of the partner's (a signed 500 INTERNAL_ERROR); `answer_unsigned`: any
        # answer without its signature.
        self.answer_instead: tuple[int, str] | None = None
        self.answer_unsigned = False
        # Seconds between the bytes of these endpoints' answers: each read arrives within the
        # client's read timeout, the whole answer never does (0: answered at once).
        self.trickle = 0.0
        self.trickle_endpoints = {"credit"}
        self.answer_balance: object = None
        self.answer_platform_transaction_id: str | None = None
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, endpoint: str, data: dict) -> tuple[int, dict]:
        tx = data.get("transaction_id", "")
        if tx in self.answers:
            return self.answers[tx]
        player = data.get("player_id") or "p1"
        if endpoint == "debit":
            player = "p1"  # the fake's sessions all belong to p1
            if tx in self.tombstones:
                answer = (409, {"code": "TRANSACTION_ROLLED_BACK", "message": "", "retryable": False})
            elif self.balances.get(player, 0) < data["amount"]:
                answer = (402, {"code": "INSUFFICIENT_FUNDS", "message": "", "retryable": False})
            else:
                self.balances[player] -= data["amount"]
                self.debits[tx] = (player, data["amount"])
                self.applied[tx] += 1
                answer = (200, {"balance": self.balances[player]})
        elif endpoint == "credit":
            self.balances[player] = self.balances.get(player, 0) + data["amount"]
            self.applied[tx] += 1
            answer = (200, {"balance": self.balances[player]})
        elif endpoint == "rollback":
            ref = data["reference_transaction_id"]
            if ref not in self.debits:
                self.tombstones.add(ref)
                answer = (200, {"status": "tombstone", "balance": self.balances.get(player, 0)})
            elif ref in self.rolled_back:
                answer = (200, {"status": "already_rolled_back", "balance": self.balances[player]})
            else:
                self.rolled_back.add(ref)
                self.balances[player] += self.debits[ref][1]
                self.applied[tx] += 1
                answer = (200, {"status": "rolled_back", "balance": self.balances[player]})
        else:
            answer = (200, {"balance": self.balances.get(player, 0)})
        status, body = answer
        body = {"player_id": player, "currency": "EUR", **body}
        if status == 200:
            body.setdefault("transaction_id", tx)
        self.answers[tx] = (status, body)
        return status, body

    def _handler(self):
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                expected = sign_request(
                    secret=partner.secret,
                    timestamp=self.headers["X-Timestamp"],
                    method="POST",
                    path=self.path,
                    body=raw,
                )
                data = json.loads(raw)
                with partner.lock:
                    partner.received[data.get("transaction_id", "")] += 1
                if not hmac.compare_digest(expected, self.headers.get("X-Signature", "")):
                    return self._send(401, {"code": "INVALID_SIGNATURE", "message": "", "retryable": False})
                endpoint = self.path.rsplit("/", 1)[-1]
                if endpoint in partner.disabled_endpoints:
                    return self._send(403, {"code": "PROVIDER_DISABLED", "message": "off", "retryable": False})
                if endpoint == "credit" and partner.refuse_credits_with:
                    return self._send(400, {"code": partner.refuse_credits_with, "message": "", "retryable": False})
                if time.time() < partner.down_until and endpoint in partner.down_endpoints:
                    return self._send(503, {"code": "SERVICE_UNAVAILABLE", "message": "down", "retryable": True})
                with partner.lock:
                    status, body = partner._answer(endpoint, data)
                if partner.delay and endpoint in partner.delay_endpoints:
                    time.sleep(partner.delay)  # a slow partner: the work is done, the answer is late
                if partner.drop_after_processing:
                    self.connection.close()
                    return None
                if partner.answer_transaction_id is not None:
                    body = {**body, "transaction_id": partner.answer_transaction_id}
                if partner.answer_balance is not None:
                    body = {**body, "balance": partner.answer_balance}
                if partner.answer_platform_transaction_id is not None:
                    body = {**body, "platform_transaction_id": partner.answer_platform_transaction_id}
                if partner.answer_player_id is not None:
                    body = {**body, "player_id": partner.answer_player_id}
                if partner.answer_instead is not None:
                    status, code = partner.answer_instead
                    body = {"code": code, "message": "", "retryable": False}
                self.trickle = partner.trickle if endpoint in partner.trickle_endpoints else 0.0
                return self._send(status, body)

            def _send(self, status, body):
                content = json.dumps(body).encode()
                ts = str(int(time.time()) - partner.answer_age_seconds)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                if not partner.answer_unsigned:
                    self.send_header("X-Timestamp", ts)
                    self.send_header(
                        "X-Signature", sign_response(secret=partner.secret, timestamp=ts, status=status, body=content)
                    )
                self.end_headers()
                for i in range(len(content)):
                    if not (getattr(self, "trickle", 0.0) and partner.trickle):
                        self.wfile.write(content[i:])  # at once, or the rest once the test stops it
                        break
                    self.wfile.write(content[i : i + 1])
                    self.wfile.flush()
                    time.sleep(partner.trickle)
                return None

        return Handler


__all__ = ["FakePartner"]
