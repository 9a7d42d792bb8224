"""Inbound authentication of wallet calls, exactly as the contract's section 1."""

import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from casino_platform.errors import ValidationFailed
from casino_platform.ratelimit import within_rate_limit

from .errors import (
    InvalidSignature,
    IpNotAllowed,
    PayloadTooLarge,
    ProviderDisabled,
    RateLimited,
    StaleTimestamp,
    UnknownProvider,
)
from .models import Provider
from .selectors import provider_auth_info
from .signing import matching_secret, sign_request, timestamp_skew

MAX_BODY_BYTES = 64 * 1024


def _ip_allowed(ip: str, allowlist: list[str]) -> bool:
    if not allowlist:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in allowlist:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a malformed allow-list entry allows nothing
    return False


def request_body(request: HttpRequest) -> bytes:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    # The header is the client's: a length that is not one is a malformed request, not a big one.
    if not (declared.isascii() and declared.isdigit()):
        raise ValidationFailed(
            "Content-Length is not a length in bytes.", details={"Content-Length": ["not a whole number"]}
        )
    if int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    try:
        body = request.body
    except RequestDataTooBig:
        raise PayloadTooLarge() from None
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    return body


@dataclass(frozen=True)
class AuthenticatedProvider:
    provider: Provider
    secret: str  # the secret the request was signed with; the response is signed with it too


def provider_authenticate(request: HttpRequest) -> AuthenticatedProvider:
    """Who is calling, proven: known provider, allowed address, fresh timestamp, a signature
    over timestamp, method, path and the raw body under an active secret. Whether it may call
    (enabled, within its rate) is asked next, once the answer can be signed."""
    code = request.META.get("HTTP_X_PROVIDER_ID", "")
    info = provider_auth_info(code=code) if code else None
    if info is None:
        raise UnknownProvider(f"Unknown provider {code!r}." if code else "X-Provider-Id is missing.")
    provider = info.provider
    if not _ip_allowed(request.META.get("REMOTE_ADDR", ""), provider.ip_allowlist):
        raise IpNotAllowed(f"{request.META.get('REMOTE_ADDR')} is not on the allow-list of {provider.code}.")
    timestamp = request.META.get("HTTP_X_TIMESTAMP", "")
    skew = timestamp_skew(timestamp)
    if skew is None:
        raise StaleTimestamp("X-Timestamp must be Unix time in whole seconds.")
    # In whole seconds, as X-Timestamp is: 300 s either side is in, 301 out.
    if skew > settings.WALLET_SIGNATURE_WINDOW_SECONDS:
        raise StaleTimestamp(
            f"X-Timestamp is {skew} s from the platform's clock; the window is "
            f"{settings.WALLET_SIGNATURE_WINDOW_SECONDS} s."
        )
    body = request_body(request)
    given = request.META.get("HTTP_X_SIGNATURE", "")
    method, path = request.method or "POST", request.path
    secret = matching_secret(
        secrets=info.secrets,
        given=given.lower(),
        sign=lambda s: sign_request(secret=s, timestamp=timestamp, method=method, path=path, body=body),
    )
    if not given or secret is None:
        raise InvalidSignature()
    return AuthenticatedProvider(provider=provider, secret=secret)


def provider_assert_enabled(provider: Provider) -> None:
    """Apart from provider_authenticate so that the refusal is signed: a disabled provider is
    told so only after it proved who it is, and can then verify the answer like any other."""
    if not provider.is_enabled:
        raise ProviderDisabled(f"Provider {provider.code} is disabled.")


def provider_rate_limit(provider: Provider) -> None:
    """A fixed one-second window per provider, counted in the shared cache (Redis); without
    the cache, calls go through uncounted."""
    limit = provider.rate_limit_per_second
    if limit and not within_rate_limit(provider.code, limit):
        raise RateLimited(f"Over {limit} calls per second for {provider.code}.", details={"retry_after": 1})
