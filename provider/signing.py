"""The contract's HMAC-SHA256 signatures (section 1), shared by the inbound API, the
outbound client and the docs' examples.

request:  hex(HMAC-SHA256(secret, f"{timestamp}.{METHOD}.{path}." + raw body bytes))
response: hex(HMAC-SHA256(secret, f"{timestamp}.RESPONSE.{status}." + raw body bytes))
"""

import hashlib
import hmac
from collections.abc import Iterable


def sign_request(*, secret: str, timestamp: int | str, method: str, path: str, body: bytes) -> str:
    message = f"{timestamp}.{method.upper()}.{path}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_response(*, secret: str, timestamp: int | str, status: int, body: bytes) -> str:
    message = f"{timestamp}.RESPONSE.{status}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_matches(*, expected_any_of: Iterable[str], given: str) -> bool:
    """Constant-time compare against every active secret's signature (rotation)."""
    given_bytes = given.encode()
    matched = False
    for expected in expected_any_of:
        # No early exit: the time taken does not tell which secret matched.
        matched |= hmac.compare_digest(expected.encode(), given_bytes)
    return matched
