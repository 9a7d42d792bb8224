"""The wallet callbacks of contract section 4: thin views over the wallet services.

Each view authenticates the signed request, parses the raw body itself (the signature
covers those exact bytes), validates it, calls one service and renders the answer. Every
response to an authenticated request, errors included, is signed with the secret the
request was signed with."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casino_platform.api import exception_handler
from casino_platform.errors import ValidationFailed
from casino_platform.fastvalidate import compile_serializer
from casino_platform.openapi import SIGNED_REQUEST_HEADERS, WALLET_COMMON_ERRORS, error_responses
from casino_platform.parsers import JSONParser
from casino_platform.renderers import OrjsonRenderer
from provider.auth import (
    AuthenticatedProvider,
    provider_assert_enabled,
    provider_authenticate,
    provider_rate_limit,
    request_body,
)
from provider.models import Provider
from provider.signing import sign_response
from sessions.services import session_resolve
from wallet.selectors import wallet_get
from wallet.services import (
    CreditRequest,
    DebitRequest,
    RollbackRequest,
    WalletResult,
    wallet_balance,
    wallet_credit,
    wallet_debit,
    wallet_rollback,
)

from . import serializers as s

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """A callback's signed answer before it is a response: Django's path wraps it in an
    HttpResponse (as_response), the wallet front writes an accepted one to the server."""

    status: int
    content: bytes  # JSON
    headers: dict[str, str]  # all but Content-Type
    error_code: str | None  # the contract's code of a refusal, for the metrics

    def as_response(self) -> HttpResponse:
        response = HttpResponse(self.content, status=self.status, content_type=JSON, headers=self.headers)
        if self.error_code is not None:
            response.wallet_error_code = self.error_code  # type: ignore[attr-defined]  # for the metrics
        return response


class WalletApiView(APIView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    renderer_classes = [OrjsonRenderer]
    # Only for the schema: _parse() reads the raw body as JSON (a form body is VALIDATION_ERROR),
    # so the schema offers no form or multipart bodies.
    parser_classes = [JSONParser]
    input_serializer: type[serializers.Serializer]
    validate_input: Callable[[dict[str, Any]], dict[str, Any]]
    # Each endpoint's one service call: (provider, validated data, trace id) -> answer.
    perform: Callable[[Provider, dict[str, Any], str], WalletResult | dict[str, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.validate_input = staticmethod(compile_serializer(cls.input_serializer))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """The lean path of every wallet callback: no DRF request wrapping, content
        negotiation or serializer instances, only what the contract asks for."""
        return self.answer(request).as_response()

    def answer(self, request: HttpRequest) -> CallbackAnswer:
        """The callback's answer, signed, before it becomes a response: the wallet front
        writes an accepted one straight to the server (wallet/api/front.py)."""
        trace_id: str = request.trace_id  # type: ignore[attr-defined]
        auth: AuthenticatedProvider | None = None
        headers: dict[str, str] = {}
        try:
            if request.method != "POST":
                # RFC 9110: a 405 names the methods the resource takes.
                headers["Allow"] = "POST"
                raise MethodNotAllowed(
                    request.method or "", detail=f"{request.method} is not allowed; wallet calls are POST."
                )
            auth = provider_authenticate(request)
            provider_assert_enabled(auth.provider)
            provider_rate_limit(auth.provider)
            data = self.validate_input(self._parse(request_body(request)))
            result = self.perform(auth.provider, data, trace_id)
            status, body = 200, result.as_body() if isinstance(result, WalletResult) else result
            if isinstance(result, WalletResult) and result.replayed:
                headers["Idempotent-Replayed"] = "true"
        except Exception as exc:  # rendered in the contract's shape, exactly as for the rest of the API
            error = exception_handler(exc, {"request": request})
            assert error is not None
            status, body = error.status_code, error.data
            headers.update({k: v for k, v in error.items() if k in ("Retry-After", "Idempotent-Replayed")})
        content = orjson.dumps(body)
        if auth is not None:
            # Signed only once the caller proved who it is, with the secret it signed with.
            timestamp = str(int(time.time()))
            headers["X-Timestamp"] = timestamp
            headers["X-Signature"] = sign_response(secret=auth.secret, timestamp=timestamp, status=status, body=content)
        # Set here: CommonMiddleware, which would, is not on the callbacks' path (wallet/api/front.py),
        # and without it the server would fall back to chunked framing.
        headers["Content-Length"] = str(len(content))
        return CallbackAnswer(status, content, headers, None if status == 200 else body.get("code"))

    def post(self, request: Request) -> Response:  # pragma: no cover - dispatch() answers; here for the schema
        raise MethodNotAllowed("POST")

    @staticmethod
    def _parse(body: bytes) -> dict[str, Any]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValidationFailed(f"The body is not valid JSON: {exc}", details={"body": ["invalid JSON"]}) from None
        if not isinstance(data, dict):
            raise ValidationFailed("The body must be a JSON object.", details={"body": ["not an object"]})
        return data


class WalletAuthenticateApi(WalletApiView):
    input_serializer = s.AuthenticateInput

    @extend_schema(
        operation_id="wallet_authenticate",
        tags=["wallet"],
        parameters=SIGNED_REQUEST_HEADERS,
        request=s.AuthenticateInput,
        responses={
            200: s.AuthenticateOutput,
            **error_responses(*WALLET_COMMON_ERRORS, "SESSION_NOT_FOUND", "SESSION_EXPIRED", "CURRENCY_MISMATCH"),
        },
        examples=[OpenApiExample("authenticate", value={"session_token": "Zx8..."}, request_only=True)],
    )
    def post(self, request: Request) -> Response:  # pragma: no cover - documents the schema only
        return super().post(request)

    def perform(self, provider, data, trace_id):
        session = session_resolve(token=data["session_token"], provider=provider)
        wallet = wallet_get(player=session.player, currency=session.currency_id)
        return {
            "player_id": session.player.player_id,
            "session_id": str(session.pk),
            "currency": wallet.currency_id,
            "balance": wallet.balance,
            "country": session.player.country,
            "display_name": session.player.display_name,
        }


class WalletBalanceApi(WalletApiView):
    input_serializer = s.BalanceInput

    @extend_schema(
        operation_id="wallet_balance",
        tags=["wallet"],
        parameters=SIGNED_REQUEST_HEADERS,
        request=s.BalanceInput,
        responses={
            200: s.BalanceOutput,
            **error_responses(
                *WALLET_COMMON_ERRORS, "SESSION_NOT_FOUND", "SESSION_EXPIRED", "PLAYER_NOT_FOUND", "CURRENCY_MISMATCH"
            ),
        },
        examples=[
            OpenApiExample("by session", value={"session_token": "Zx8..."}, request_only=True),
            OpenApiExample("by player", value={"player_id": "p_demo_1", "currency": "EUR"}, request_only=True),
        ],
    )
    def post(self, request: Request) -> Response:  # pragma: no cover - documents the schema only
        return super().post(request)

    def perform(self, provider, data, trace_id):
        return wallet_balance(
            provider=provider,
            session_token=data.get("session_token"),
            player_id=data.get("player_id"),
            currency=data.get("currency"),
        )


class WalletDebitApi(WalletApiView):
    input_serializer = s.DebitInput

    @extend_schema(
        operation_id="wallet_debit",
        tags=["wallet"],
        parameters=SIGNED_REQUEST_HEADERS,
        request=s.DebitInput,
        responses={
            200: s.MoneyOutput,
            **error_responses(
                *WALLET_COMMON_ERRORS,
                "SESSION_NOT_FOUND",
                "SESSION_EXPIRED",
                "INSUFFICIENT_FUNDS",
                "PLAYER_BLOCKED",
                "RG_LIMIT",
                "PLAYER_NOT_FOUND",
                "GAME_NOT_FOUND",
                "IDEMPOTENCY_MISMATCH",
                "ROUND_CLOSED",
                "TRANSACTION_ROLLED_BACK",
                "CURRENCY_MISMATCH",
                "MAINTENANCE",
            ),
        },
        examples=[
            OpenApiExample(
                "bet",
                request_only=True,
                value={
                    "transaction_id": "tx-1001",
                    "session_token": "Zx8...",
                    "round_id": "r-77",
                    "game_id": "sandbox:dice",
                    "amount": 250,
                    "currency": "EUR",
                    "reason": "bet",
                    "round_closed": False,
                },
            ),
            OpenApiExample(
                "accepted",
                response_only=True,
                value={
                    "player_id": "p_demo_1",
                    "currency": "EUR",
                    "balance": 99750,
                    "transaction_id": "tx-1001",
                    "platform_transaction_id": "5012",
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:  # pragma: no cover - documents the schema only
        return super().post(request)

    def perform(self, provider, data, trace_id):
        return wallet_debit(provider=provider, request=DebitRequest(trace_id=trace_id, **data))


class WalletCreditApi(WalletApiView):
    input_serializer = s.CreditInput

    @extend_schema(
        operation_id="wallet_credit",
        tags=["wallet"],
        parameters=SIGNED_REQUEST_HEADERS,
        request=s.CreditInput,
        responses={
            200: s.MoneyOutput,
            **error_responses(
                *WALLET_COMMON_ERRORS,
                "PLAYER_NOT_FOUND",
                "ROUND_NOT_FOUND",
                "IDEMPOTENCY_MISMATCH",
                "CURRENCY_MISMATCH",
            ),
        },
        examples=[
            OpenApiExample(
                "win",
                request_only=True,
                value={
                    "transaction_id": "tx-1002",
                    "player_id": "p_demo_1",
                    "round_id": "r-77",
                    "game_id": "sandbox:dice",
                    "amount": 500,
                    "currency": "EUR",
                    "reason": "win",
                    "round_closed": True,
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:  # pragma: no cover - documents the schema only
        return super().post(request)

    def perform(self, provider, data, trace_id):
        return wallet_credit(provider=provider, request=CreditRequest(trace_id=trace_id, **data))


class WalletRollbackApi(WalletApiView):
    input_serializer = s.RollbackInput

    @extend_schema(
        operation_id="wallet_rollback",
        tags=["wallet"],
        parameters=SIGNED_REQUEST_HEADERS,
        request=s.RollbackInput,
        responses={
            200: s.RollbackOutput,
            **error_responses(
                *WALLET_COMMON_ERRORS, "PLAYER_NOT_FOUND", "IDEMPOTENCY_MISMATCH", "ROLLBACK_NOT_ALLOWED"
            ),
        },
        examples=[
            OpenApiExample(
                "cancel a debit",
                request_only=True,
                value={
                    "transaction_id": "tx-1003",
                    "reference_transaction_id": "tx-1001",
                    "player_id": "p_demo_1",
                    "round_id": "r-77",
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:  # pragma: no cover - documents the schema only
        return super().post(request)

    def perform(self, provider, data, trace_id):
        return wallet_rollback(provider=provider, request=RollbackRequest(trace_id=trace_id, **data))
