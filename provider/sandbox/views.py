"""The sandbox game page that a sandbox session's launch_url opens.

Our provider side serves it: the page's bets go through the outbound client to the partner
casino's wallet (by default this platform's own wallet API, over HTTP), exactly as a real
provider's would. The session token is the page's only credential."""

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

import orjson
from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from casino_platform.error_views import api_error
from casino_platform.errors import DomainError
from ledger.models import CURRENCY_CODE
from ledger.selectors import currency_get

from ..games import engine
from ..games.services import game_round_play, partner_player_get_or_create
from ..models import PartnerCasino
from ..outbound.client import OutcomeUnknown, WalletClient
from ..outbound.services import DebitRefused


def _partner() -> PartnerCasino | None:
    return PartnerCasino.objects.filter(name=settings.SANDBOX_PARTNER, is_enabled=True).first()


def _refusal(status: int, body: dict[str, Any]) -> JsonResponse:
    """A partner's refusal passed on to the page, in the contract's shape whatever it sent."""
    return api_error(
        str(body.get("code", f"HTTP_{status}")),
        str(body.get("message", "")),
        status,
        retryable=bool(body.get("retryable")),
    )


def _authenticate(client: WalletClient, token: str) -> tuple[int, dict[str, Any]]:
    """The partner's answer to `authenticate`, cached briefly: a page bets many times. One
    that names no player or currency we can record (the contract's player_id of 1 to 64
    characters, an ISO 4217 code) is the partner's error, answered 502 before any round."""
    key = "sandbox-auth:" + hashlib.sha256(token.encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return 200, cached
    answer = client.call("authenticate", {"session_token": token})
    if not answer.accepted:
        return answer.http_status, answer.body
    player_id, currency = answer.body.get("player_id"), answer.body.get("currency")
    if not (isinstance(player_id, str) and 0 < len(player_id) <= 64 and "\x00" not in player_id) or not (
        isinstance(currency, str) and CURRENCY_CODE.fullmatch(currency)
    ):
        return 502, {
            "code": "PARTNER_ERROR",
            "message": f"The casino's authenticate answer names no player_id and currency we can play for "
            f"(player_id {str(player_id)[:80]!r}, currency {str(currency)[:8]!r}).",
        }
    name = answer.body.get("display_name")
    # Kept on our record of the player: a string, without NULs (PostgreSQL's text refuses them).
    body = {**answer.body, "display_name": name.replace("\x00", "")[:120] if isinstance(name, str) else ""}
    cache.set(key, body, timeout=30)
    return 200, body


@require_GET
def sandbox_play_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "provider/sandbox_play.html",
        {
            "token": request.GET.get("token", ""),
            "game_id": request.GET.get("game_id", "sandbox:dice"),
            "dice_min": engine.DICE_MIN_TARGET,
            "dice_max": engine.DICE_MAX_TARGET,
            "slot_symbols": engine.SLOT_SYMBOLS,
            "slot_two_cherries": engine.SLOT_TWO_CHERRIES,
            "slot_rtp": f"{float(engine.slot_rtp()):.0%}",
        },
    )


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = orjson.loads(request.body or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _json_post(view: Callable[[HttpRequest], JsonResponse]) -> Callable[[HttpRequest], JsonResponse]:
    """The page's API takes POSTs only, and refuses another method in the contract's shape,
    as the API's other endpoints do (Django's require_POST answered an empty 405)."""

    @wraps(view)
    def post_only(request: HttpRequest) -> JsonResponse:
        if request.method != "POST":
            refused = api_error("METHOD_NOT_ALLOWED", f'Method "{request.method}" not allowed: POST here.', 405)
            refused["Allow"] = "POST"
            return refused
        return view(request)

    return csrf_exempt(post_only)


def _wallet_client(partner: PartnerCasino) -> WalletClient | JsonResponse:
    """A client for this request (building one decrypts the partner's secret), or the answer
    when the secret cannot be read: encrypted under another PROVIDER_SECRET_KEY."""
    try:
        return WalletClient(partner)
    except InvalidToken:
        return api_error(
            "PARTNER_UNAVAILABLE",
            f"The partner {partner.name!r}'s secret cannot be decrypted with this PROVIDER_SECRET_KEY: run "
            "`manage.py seed_sandbox` again with these settings (it replaces an unreadable sandbox partner secret).",
            503,
        )


@_json_post
def sandbox_session_api(request: HttpRequest) -> JsonResponse:
    """Who is playing and their balance, as the partner's wallet says."""
    partner = _partner()
    if partner is None:
        return api_error("NO_PARTNER", f"No enabled partner {settings.SANDBOX_PARTNER!r}; run seed_sandbox.", 503)
    token = str(_json_body(request).get("token", ""))
    client = _wallet_client(partner)
    if isinstance(client, JsonResponse):
        return client
    try:
        status, body = _authenticate(client, token)
        if status != 200:
            return _refusal(status, body)
        balance = client.call("balance", {"session_token": token})
    except OutcomeUnknown as exc:
        return api_error("PARTNER_UNAVAILABLE", str(exc), 503, retryable=True)
    if not balance.accepted:
        # The session ended since `authenticate` was cached (closed, expired): say so.
        return _refusal(balance.http_status, balance.body)
    return JsonResponse({**body, "balance": balance.body["balance"], "exponent": _exponent(body.get("currency"))})


def _exponent(currency: object) -> int:
    """The currency's minor units as this platform knows them (the page shows amounts in major
    units); 2, ISO 4217's most common, for one it does not know (another partner's)."""
    try:
        return currency_get(code=str(currency), enabled_only=False).exponent
    except DomainError:
        return 2


@_json_post
def sandbox_bet_api(request: HttpRequest) -> JsonResponse:
    """Play one round of dice or slot for the session's player."""
    partner = _partner()
    if partner is None:
        return api_error("NO_PARTNER", f"No enabled partner {settings.SANDBOX_PARTNER!r}; run seed_sandbox.", 503)
    data = _json_body(request)
    token, game, stake, target = data.get("token", ""), data.get("game"), data.get("stake"), data.get("target", 50)
    client_seed = data.get("client_seed", "")
    if game not in ("dice", "slot") or type(stake) is not int or type(target) is not int:
        return api_error("VALIDATION_ERROR", "game is dice or slot; stake and target are integers.", 400)
    if game == "dice" and not engine.DICE_MIN_TARGET <= target <= engine.DICE_MAX_TARGET:
        return api_error("VALIDATION_ERROR", f"target is {engine.DICE_MIN_TARGET}..{engine.DICE_MAX_TARGET}.", 400)
    most = engine.stake_max(game=game, target=target)
    if not 0 < stake <= most:
        # Above this, a win could not be credited (the contract's largest amount).
        return api_error("VALIDATION_ERROR", f"stake is 1..{most} here.", 400)
    if not isinstance(client_seed, str) or len(client_seed) > 64 or not client_seed.isprintable():
        return api_error("VALIDATION_ERROR", "client_seed is at most 64 printable characters.", 400)
    client = _wallet_client(partner)
    if isinstance(client, JsonResponse):
        return client
    try:
        status, session = _authenticate(client, str(token))
    except OutcomeUnknown as exc:
        return api_error("PARTNER_UNAVAILABLE", str(exc), 503, retryable=True)
    if status != 200:
        return _refusal(status, session)
    player = partner_player_get_or_create(
        partner=partner, partner_player_id=session["player_id"], display_name=session.get("display_name", "")
    )
    try:
        played = game_round_play(
            partner=partner,
            player=player,
            session_token=str(token),
            game=game,
            stake=stake,
            currency=session["currency"],
            target=target,
            client_seed=client_seed,
            client=client,
        )
    except DebitRefused as refused:
        return api_error(
            refused.code, refused.message or refused.code, refused.http_status, retryable=refused.retryable
        )
    round_obj = played.round
    return JsonResponse(
        {
            "round_id": round_obj.round_id,
            "game": game,
            "stake": stake,
            "payout": played.payout,
            "outcome": round_obj.outcome,
            "balance_after_bet": played.balance_after_debit,
            "expected_balance": played.balance_after_debit + played.payout,
            "credit_transaction_id": played.credit.transaction_id if played.credit else None,
            "audit": {
                "server_seed": round_obj.server_seed,
                "client_seed": round_obj.client_seed,
                "nonce": round_obj.nonce,
            },
        }
    )
