"""The contract's HMAC-SHA256 signatures (section 1), shared by the inbound API, the
outbound client and the docs' examples.

request:  hex(HMAC-SHA256(secret, f"{timestamp}.{METHOD}.{path}." + raw body bytes))
response: hex(HMAC-SHA256(secret, f"{timestamp}.RESPONSE.{status}." + raw body bytes))
"""

import hashlib
import hmac
from collections.abc import Callable, Sequence


def sign_request(*, secret: str, timestamp: int | str, method: str, path: str, body: bytes) -> str:
    message = f"{timestamp}.{method.upper()}.{path}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_response(*, secret: str, timestamp: int | str, status: int, body: bytes) -> str:
    message = f"{timestamp}.RESPONSE.{status}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def matching_secret(*, secrets: Sequence[str], given: str, sign: Callable[[str], str]) -> str | None:
    """The active secret under which `given` is the signature, compared in constant time
    against every secret (rotation), with no early exit: timing does not tell which matched."""
    given_bytes = given.encode()
    found: str | None = None
    for secret in secrets:
        if hmac.compare_digest(sign(secret).encode(), given_bytes) and found is None:
            found = secret
    return found
