"""The contract's HMAC-SHA256 signatures (section 1), shared by the inbound API, the
outbound client and the docs' examples.

request:  hex(HMAC-SHA256(secret, f"{timestamp}.{METHOD}.{path}." + raw body bytes))
response: hex(HMAC-SHA256(secret, f"{timestamp}.RESPONSE.{status}." + raw body bytes))
"""

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from functools import lru_cache


def sign_request(*, secret: str, timestamp: int | str, method: str, path: str, body: bytes) -> str:
    return _hmac_sha256_hex(secret, f"{timestamp}.{method.upper()}.{path}.".encode() + body)


def sign_response(*, secret: str, timestamp: int | str, status: int, body: bytes) -> str:
    return _hmac_sha256_hex(secret, f"{timestamp}.RESPONSE.{status}.".encode() + body)


def timestamp_skew(timestamp: str) -> int | None:
    """How many whole seconds an X-Timestamp is from our clock, either way; None when it is no
    Unix time in whole seconds (ASCII digits only: str.isdigit() takes '²', which int() refuses;
    and few enough for int() and the clock). Judged against WALLET_SIGNATURE_WINDOW_SECONDS by
    the inbound API for requests and the outbound client for answers."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return None
    return abs(int(time.time()) - int(timestamp))


def _hmac_sha256_hex(secret: str, message: bytes) -> str:
    keyed = _keyed(secret).copy()
    keyed.update(message)
    return keyed.hexdigest()


@lru_cache(maxsize=256)
def _keyed(secret: str) -> "hmac.HMAC":
    """An HMAC-SHA256 keyed with `secret` and nothing hashed yet, copied for each message:
    keying one (OpenSSL's digest lookup and context set-up) cost more instructions than
    hashing a wallet call's few hundred bytes, and every callback signs twice (request and
    answer). Never updated itself, so threads may copy it at once."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def matching_secret(*, secrets: Sequence[str], given: str, sign: Callable[[str], str]) -> str | None:
    """The active secret under which `given` is the signature, compared in constant time
    against every secret (rotation), with no early exit: timing does not tell which matched."""
    given_bytes = given.encode()
    found: str | None = None
    for secret in secrets:
        if hmac.compare_digest(sign(secret).encode(), given_bytes) and found is None:
            found = secret
    return found
