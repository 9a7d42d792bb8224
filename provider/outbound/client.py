"""The outbound wallet client: how our games call a partner casino's wallet.

Signs every request per the contract, verifies every response signature, keeps persistent
HTTP connections (one pooled session per partner and thread), applies the partner's
timeouts, sends X-Trace-Id, and sorts each answer into accepted, refused (final),
retryable, or unknown (we cannot tell whether money moved)."""

import hmac
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from provider.crypto import decrypt_secret
from provider.models import PartnerCasino
from provider.signing import sign_request, sign_response, timestamp_skew

_local = threading.local()


@dataclass(frozen=True)
class WalletAnswer:
    http_status: int
    body: dict[str, Any]
    duration_ms: int
    trace_id: str
    raw: bytes = field(repr=False, default=b"")

    @property
    def accepted(self) -> bool:
        return self.http_status == 200

    @property
    def code(self) -> str:
        return "" if self.accepted else str(self.body.get("code", f"HTTP_{self.http_status}"))

    @property
    def retryable(self) -> bool:
        """The partner says a retry may succeed; nothing was stored there (contract section 3)."""
        return not self.accepted and bool(self.body.get("retryable", False))


# Refused while the partner authenticated the request, before it could sign (provider
# guide, "Unsigned answers"): none of them processed anything.
UNSIGNED_REFUSALS = frozenset(
    {"INVALID_SIGNATURE", "UNKNOWN_PROVIDER", "STALE_TIMESTAMP", "IP_NOT_ALLOWED", "PAYLOAD_TOO_LARGE"}
)
# The contract's own 5xx: nothing processed, try again later.
UNAVAILABLE_CODES = frozenset({"MAINTENANCE", "SERVICE_UNAVAILABLE"})


class OutcomeUnknown(Exception):
    """No trustworthy answer: a timeout, a dropped connection, an unsigned or badly signed
    reply, or a 5xx that is not the contract's. The request may or may not have moved money."""

    def __init__(self, message: str, *, duration_ms: int = 0, http_status: int | None = None):
        super().__init__(message)
        self.duration_ms = duration_ms
        self.http_status = http_status


def _session(partner: PartnerCasino) -> requests.Session:
    sessions: dict[int, requests.Session] = getattr(_local, "sessions", None) or {}
    _local.sessions = sessions
    session = sessions.get(partner.pk)
    if session is None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        sessions[partner.pk] = session
    return session


def outbound_sessions_close() -> None:
    """Close this thread's pooled connections to every partner: for a thread that is done
    calling them, so that the partner is not left holding idle kept-alive connections (and,
    when the partner is this platform, the database connections of the threads serving them)."""
    for session in (getattr(_local, "sessions", None) or {}).values():
        session.close()
    _local.sessions = {}


class WalletClient:
    def __init__(self, partner: PartnerCasino):
        self.partner = partner
        self.secret = decrypt_secret(partner.secret_encrypted)
        self.base_url = partner.base_url.rstrip("/")
        # The signature covers the path as sent (contract section 1): a casino served under a
        # path of its own (https://host/casino) sees /casino/api/v1/wallet/..., and checks that.
        self.base_path = urlsplit(self.base_url).path
        self.timeout = (partner.connect_timeout_ms / 1000, partner.read_timeout_ms / 1000)

    def call(self, endpoint: str, payload: dict[str, Any], *, trace_id: str | None = None) -> WalletAnswer:
        """POST one wallet call. Returns the partner's answer, or raises OutcomeUnknown."""
        path = f"{self.base_path}/api/v1/wallet/{endpoint}"
        body = orjson.dumps(payload)
        timestamp = str(int(time.time()))
        trace_id = trace_id or uuid.uuid4().hex
        headers = {
            "Content-Type": "application/json",
            "X-Provider-Id": self.partner.provider_code,
            "X-Timestamp": timestamp,
            "X-Signature": sign_request(secret=self.secret, timestamp=timestamp, method="POST", path=path, body=body),
            "X-Trace-Id": trace_id,
        }
        started = time.monotonic()
        try:
            response = _session(self.partner).post(
                f"{self.base_url}/api/v1/wallet/{endpoint}", data=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise OutcomeUnknown(f"{type(exc).__name__}: {exc}", duration_ms=_ms(started)) from exc
        duration = _ms(started)
        content = response.content
        signature = response.headers.get("X-Signature", "")
        response_ts = response.headers.get("X-Timestamp", "")
        expected = sign_response(secret=self.secret, timestamp=response_ts, status=response.status_code, body=content)
        try:
            data = orjson.loads(content) if content else {}
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise OutcomeUnknown(
                f"HTTP {response.status_code} without a JSON body",
                duration_ms=duration,
                http_status=response.status_code,
            )
        if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
            # Refusals raised while authenticating the request are unsigned (e.g. a wrong
            # secret: 401), and are the partner's final word for those codes only: any other
            # unsigned refusal (a proxy's 403, a forged RG_LIMIT) may hide a debit taken.
            if response.status_code in (401, 403, 413) and data.get("code") in UNSIGNED_REFUSALS:
                return WalletAnswer(response.status_code, data, duration, trace_id, content)
            raise OutcomeUnknown(
                f"HTTP {response.status_code} with a missing or bad response signature",
                duration_ms=duration,
                http_status=response.status_code,
            )
        if not _within_window(response_ts):
            # Old, signed: an answer replayed by whoever sits on the path, to this request or
            # another. Taken as a refusal it would strand a debit's stake.
            raise OutcomeUnknown(
                f"HTTP {response.status_code} signed at X-Timestamp {response_ts[:32]!r}, outside the window",
                duration_ms=duration,
                http_status=response.status_code,
            )
        if response.status_code >= 500 and data.get("code") not in UNAVAILABLE_CODES:
            # The contract's 5xx say nothing was processed; any other is a bug of the
            # partner's, which may have happened after the money moved (an INTERNAL_ERROR).
            raise OutcomeUnknown(
                f"HTTP {response.status_code}: {str(data)[:500]}",
                duration_ms=duration,
                http_status=response.status_code,
            )
        if response.status_code == 200:
            _accepted_answer_check(endpoint, payload, data, duration)
        return WalletAnswer(response.status_code, data, duration, trace_id, content)


def _within_window(timestamp: str) -> bool:
    skew = timestamp_skew(timestamp)
    return skew is not None and skew <= settings.WALLET_SIGNATURE_WINDOW_SECONDS


# A balance is minor units in a bigint, here as at every wallet of the contract.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
# A rollback's successful outcomes (contract section 5).
ROLLBACK_STATUSES = frozenset({"rolled_back", "already_rolled_back", "tombstone"})


def _accepted_answer_check(endpoint: str, payload: dict[str, Any], data: dict, duration: int) -> None:
    """A signed 200 is taken as the partner's acceptance only if it is an answer to this
    request: naming our transaction_id where the contract echoes it (debit, credit; a
    rollback where it does), our player and currency where we sent them, a rollback's outcome
    one of the contract's, with an integer balance. Otherwise the outcome is unknown: a debit
    is rolled back, a credit or rollback sent again under the same id."""
    problem = ""
    ours = payload.get("transaction_id")
    echoes = endpoint in ("debit", "credit") or (endpoint == "rollback" and "transaction_id" in data)
    if echoes and data.get("transaction_id") != ours:
        problem = f"an accepted answer for transaction {str(data.get('transaction_id'))[:128]!r}, not ours"
    elif any(field in payload and data.get(field) != payload[field] for field in ("player_id", "currency")):
        problem = (
            f"an accepted answer for player {str(data.get('player_id'))[:64]!r} in {str(data.get('currency'))[:8]!r}"
        )
    elif endpoint == "rollback" and data.get("status") not in ROLLBACK_STATUSES:
        problem = f"a rollback answered with status {str(data.get('status'))[:32]!r}"
    elif type(data.get("balance")) is not int:  # every success carries one (contract section 4)
        problem = "an accepted answer without an integer balance"
    elif not BIGINT_MIN <= data["balance"] <= BIGINT_MAX:  # what the row stores it in
        problem = f"an accepted answer with a balance of {str(data['balance'])[:32]}, past any wallet's"
    if problem:
        raise OutcomeUnknown(f"HTTP 200: {problem}", duration_ms=duration, http_status=200)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
