from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from sessions.models import OperatorApiKey
from sessions.services import session_token_hash


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
        return OperatorPrincipal(api_key), api_key

    def authenticate_header(self, request: Any) -> str:
        return self.keyword


class OperatorApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "sessions.api.auth.OperatorApiKeyAuthentication"
    name = "OperatorToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Token <operator API key>`"}
