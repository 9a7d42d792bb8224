from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from casino_platform.errors import ScopeNotGranted
from casino_platform.ratelimit import within_rate_limit
from provider.errors import RateLimited
from sessions.models import OperatorApiKey, operator_scopes_held
from sessions.services import operator_api_key_mark_used, session_token_hash


class OperatorPrincipal:
    """The operator service behind an API key; not a Django user."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, api_key: OperatorApiKey):
        self.api_key = api_key
        self.username = f"operator:{api_key.name}"

    def get_username(self) -> str:
        return self.username


class OperatorApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>`; keys are stored as SHA-256 only."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[OperatorPrincipal, OperatorApiKey] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization: Token <key> expected.")
        key = header[1].decode(errors="replace")
        api_key = OperatorApiKey.objects.filter(key_hash=session_token_hash(key), is_active=True).first()
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown or inactive operator API key.")
        operator_api_key_mark_used(api_key=api_key)
        return OperatorPrincipal(api_key), api_key

    def authenticate_header(self, request: Any) -> str:
        return self.keyword


def operator_scope_require(request: Request, scope: str | None, *, what: str = "") -> None:
    """SCOPE_NOT_GRANTED unless the request's key holds `scope` (None: no scope, refused)."""
    api_key = request.auth
    held = operator_scopes_held(api_key.scopes) if isinstance(api_key, OperatorApiKey) else []
    if scope is None or scope not in held:
        name = api_key.name if isinstance(api_key, OperatorApiKey) else "?"
        what = what or f"use the {scope or 'unscoped'} endpoints"
        raise ScopeNotGranted(
            f"Operator key {name!r} may not {what}; its scopes: {', '.join(held) or 'none'}.",
            details={"required_scope": scope, "key_scopes": held},
        )


class OperatorKeyRateLimit(permissions.BasePermission):
    """The key's `rate_limit_per_second`, in the same one-second windows as the providers'.
    A permission placed before the scope's, not a DRF throttle (which runs after every
    permission), so that calls refused for their scope count too. Without the cache it lets
    calls through (and logs it): the limit guards the platform against a runaway caller, and
    is not worth refusing a cashier's payments over."""

    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if isinstance(api_key, OperatorApiKey) and api_key.rate_limit_per_second:
            if not within_rate_limit(f"operator:{api_key.pk}", api_key.rate_limit_per_second):
                raise RateLimited(
                    f"Over {api_key.rate_limit_per_second} calls per second for operator key {api_key.name!r}.",
                    details={"retry_after": 1},
                )
        return True


class HasOperatorScope(permissions.BasePermission):
    """The key holds the view's `operator_scope`. A view that names none is refused to every
    key: a new endpoint is closed until it says which part of the API it belongs to."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not isinstance(request.auth, OperatorApiKey):
            return False
        operator_scope_require(request, getattr(view, "operator_scope", None))
        return True


class OperatorApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "sessions.api.auth.OperatorApiKeyAuthentication"
    name = "OperatorToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <operator API key>`. A key holds one or more scopes (lobby, players, cashier, kyc); "
            "an endpoint outside them answers 403 SCOPE_NOT_GRANTED; a key over its rate limit, 429 RATE_LIMITED.",
        }
