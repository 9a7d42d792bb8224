"""The operator's player API: registering a player, and the responsible-gambling calls the
casino's front end makes when a player sets a loss, wager, deposit, session time or daily play-time limit,
takes a time-out or excludes themselves, and reads back to show them. The cashier's calls are in
wallet/api/cashier.py."""

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.response import Response

from casino_platform import clock
from casino_platform.errors import ValidationFailed
from casino_platform.openapi import operator_error_responses
from casino_platform.parsers import JSONParser
from ledger.models import CURRENCY_CODE
from ledger.selectors import currency_get
from players.models import BET_LIMITS, PeriodLimit, Player, PlayTimeLimit, SelfExclusionState, SessionTimeLimit
from players.selectors import (
    player_daily_play_time,
    player_get,
    player_limits_missing,
    player_recorded_country,
    player_session_time_limit,
)
from players.services import (
    player_close,
    player_extend_restriction,
    player_register,
    player_self_exclusion_resume,
    player_self_exclusion_state,
    player_set_daily_play_time_limit,
    player_set_deposit_limit,
    player_set_loss_limit,
    player_set_session_time_limit,
    player_set_wager_limit,
)
from sessions.api.auth import operator_scope_require
from sessions.api.views import OperatorApiView
from sessions.models import OperatorApiKey
from wallet.selectors import (
    player_deposit_limit_usage,
    player_loss_limit_usage,
    player_wager_limit_usage,
    player_wallets,
)

from .serializers import (
    DailyPlayTimeLimitInput,
    LimitSetInput,
    PlayerInput,
    PlayerOutput,
    ReasonInput,
    ReasonQuery,
    ResponsibleGamblingOutput,
    ResponsibleGamblingQuery,
    RestrictionInput,
    SessionTimeLimitInput,
)

STATE_RESPONSES = {200: ResponsibleGamblingOutput, **operator_error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND")}
LIMIT_PARAMETERS = [
    # Three capitals, as the limit services hold it (another is VALIDATION_ERROR).
    OpenApiParameter(
        "currency", str, OpenApiParameter.PATH, pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR"
    ),
    OpenApiParameter("period", str, OpenApiParameter.PATH, enum=PeriodLimit.Period.values),
]


def _state(player: Player, *, also_in: Iterable[str] = ()) -> dict[str, Any]:
    now = clock.now()
    return ResponsibleGamblingOutput(
        {
            "player_id": player.player_id,
            "status": player.status,
            "self_excluded_until": player.self_excluded_until,
            "self_exclusion": (self_exclusion := player_self_exclusion_state(player=player, now=now)),
            # A request older than the end counts as none: no time to show until the player asks.
            "self_exclusion_resumes_at": None
            if self_exclusion == SelfExclusionState.AWAITING_REQUEST
            else player.self_exclusion_resumes_at,
            "timed_out_until": player.timed_out_until,
            "loss_limits": player_loss_limit_usage(player=player, now=now),
            "wager_limits": player_wager_limit_usage(player=player, now=now),
            "deposit_limits": player_deposit_limit_usage(player=player, now=now),
            "session_time_limit": _session_time_limit(player_session_time_limit(player_pk=player.pk)),
            "daily_play_time_limit": _daily_play_time_limit(player, now),
            "limits_missing": [
                {
                    "limit": lacking.model.audit_name,
                    "currency": lacking.currency,
                    "period": lacking.period,
                    "limited_in": lacking.limited_in,
                    "refuses": "play" if lacking.model in BET_LIMITS else "deposits",
                }
                for lacking in player_limits_missing(player=player, also_in=also_in)
            ],
        }
    ).data


def _play_time_limit(limit: PlayTimeLimit) -> dict[str, Any]:
    pending = None
    if limit.pending_from is not None:
        pending = {"minutes": limit.pending_amount, "effective_from": limit.pending_from}
    return {"minutes": limit.amount, "pending": pending}


def _session_time_limit(limit: SessionTimeLimit | None) -> dict[str, Any] | None:
    return None if limit is None else _play_time_limit(limit)


def _daily_play_time_limit(player: Player, now: datetime) -> dict[str, Any] | None:
    daily = player_daily_play_time(player_pk=player.pk, now=now)
    if daily is None:
        return None
    return {
        **_play_time_limit(daily.limit),
        "played_seconds": int(daily.played.total_seconds()),
        # Down: 59.5 s left is under the minute a launch needs, not "60".
        "remaining_seconds": int(daily.left.total_seconds()),
    }


class PlayerApiView(OperatorApiView):
    operator_scope = OperatorApiKey.Scope.PLAYERS
    # JSON only: the strict fields refuse what a form would send anyway.
    parser_classes = [JSONParser]


def _player(player: Player) -> dict[str, Any]:
    return PlayerOutput(
        {
            "player_id": player.player_id,
            "display_name": player.display_name,
            "country": player.country,
            "status": player.status,
            "kyc_status": player.kyc_status,
            "kyc_reference": player.kyc_reference,
            "created_at": player.created_at,
            "wallets": player_wallets(player=player),
        }
    ).data


class PlayerApi(PlayerApiView):
    @extend_schema(
        operation_id="player_get",
        tags=["operator"],
        responses={200: PlayerOutput, **operator_error_responses("PLAYER_NOT_FOUND")},
    )
    def get(self, request: Request, player_id: str) -> Response:
        return Response(_player(player_get(player_id=player_id)))

    @extend_schema(
        operation_id="player_register",
        tags=["operator"],
        request=PlayerInput,
        responses={200: PlayerOutput, 201: PlayerOutput, **operator_error_responses("VALIDATION_ERROR")},
        description=(
            "Registers the player (201) or changes the fields given (200); safe to repeat. A player id is "
            '1-64 characters of A-Za-z0-9._:@-, not "." or "..". A wallet opens with the player\'s first deposit '
            "or win in its currency. `kyc_status` is the casino's identity check as its KYC provider answered it: "
            "withdrawals are paid only for a verified player (KYC_REQUIRED_FOR_WITHDRAWALS); setting it or "
            "`kyc_reference`, or changing a `country` already recorded (it decides which games the player "
            "may launch), needs a key with the `kyc` scope as well. Each change is "
            "in the player's audit log with `reason`."
        ),
        examples=[
            OpenApiExample("register", request_only=True, value={"display_name": "Maria B.", "country": "MT"}),
            OpenApiExample(
                "verified",
                request_only=True,
                value={
                    "kyc_status": "verified",
                    "expected_kyc_status": "pending",
                    "kyc_reference": "idv-93ac1f",
                    "reason": "documents checked",
                },
            ),
        ],
    )
    def put(self, request: Request, player_id: str) -> Response:
        serializer = PlayerInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if {"kyc_status", "kyc_reference", "expected_kyc_status"} & set(data):
            # Verified unlocks payouts: not for a key the front end keeps.
            operator_scope_require(request, OperatorApiKey.Scope.KYC, what="set a player's KYC status")
        if "country" in data and player_recorded_country(player_id=player_id) not in ("", data["country"]):
            # The country decides which games the player may launch (licensing): the front end's
            # key records it at sign-up, and only the casino's back end moves it.
            operator_scope_require(request, OperatorApiKey.Scope.KYC, what="change a player's recorded country")
        player, created = player_register(
            player_id=player_id,
            display_name=data.get("display_name"),
            country=data.get("country"),
            kyc_status=data.get("kyc_status"),
            kyc_reference=data.get("kyc_reference"),
            expected_kyc_status=data.get("expected_kyc_status"),
            changed_by=request.user.get_username(),
            reason=data["reason"],
            # Judged again under the player's lock: a country recorded since the check above.
            on_recorded_country_move=lambda recorded: operator_scope_require(
                request, OperatorApiKey.Scope.KYC, what="change a player's recorded country"
            ),
        )
        return Response(_player(player), status=201 if created else 200)


class ResponsibleGamblingApi(PlayerApiView):
    @extend_schema(
        operation_id="player_responsible_gambling",
        tags=["operator"],
        parameters=[ResponsibleGamblingQuery],
        responses={200: ResponsibleGamblingOutput, **operator_error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND")},
    )
    def get(self, request: Request, player_id: str) -> Response:
        query = ResponsibleGamblingQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        player = player_get(player_id=player_id)
        asked = query.validated_data.get("currency")
        return Response(_state(player, also_in=() if asked is None else [_currency_asked(player, asked)]))


def _currency_asked(player: Player, asked: str) -> str:
    """A currency the platform takes, or one of the player's wallets' (listed anyway, a
    disabled one too); VALIDATION_ERROR otherwise."""
    if CURRENCY_CODE.fullmatch(asked) and player.wallets.filter(currency_id=asked).exists():
        return asked
    return currency_get(code=asked).code


def _reason_given(request: Request) -> str:
    """The body's `reason`, for the audit log, from a body that may hold nothing else."""
    serializer = ReasonInput(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["reason"]


def _removal_input(request: Request) -> ReasonQuery:
    """A removal's input: its `reason` from the query string, since many clients and proxies
    drop a DELETE's body. A body that says anything is refused rather than left unread, so a
    reason sent there is not silently missing from the audit log; `{}` says nothing."""
    if request.body.strip():
        try:
            says_nothing = request.data == {}
        except (ParseError, UnsupportedMediaType):
            says_nothing = False
        if not says_nothing:
            raise ValidationFailed(
                "A removal takes no body: send the reason in the query string (?reason=...).",
                details={"body": ["not read on DELETE: give reason in the query string"]},
            )
    return ReasonQuery(data=request.query_params)


class PeriodLimitApi(PlayerApiView):
    """A loss, wager or deposit limit of one currency and period: set (PUT) or removed (DELETE)."""

    set_limit: Callable[..., PeriodLimit | None]

    def put(self, request: Request, player_id: str, currency: str, period: str) -> Response:
        return self._set(request, player_id, currency, period, LimitSetInput(data=request.data))

    def delete(self, request: Request, player_id: str, currency: str, period: str) -> Response:
        return self._set(request, player_id, currency, period, _removal_input(request))

    def _set(self, request: Request, player_id: str, currency: str, period: str, serializer: ReasonInput) -> Response:
        # The service judges the path's currency and period with the amount: one set of rules.
        player = player_get(player_id=player_id)
        serializer.is_valid(raise_exception=True)
        type(self).set_limit(
            player=player,
            currency=currency,
            period=period,
            amount=serializer.validated_data.get("amount"),  # none in a removal
            changed_by=request.user.get_username(),
            reason=serializer.validated_data["reason"],
        )
        return Response(_state(player))


def _limit_schema(name: str, holds: str, example: OpenApiExample) -> Any:
    return extend_schema_view(
        put=extend_schema(
            operation_id=f"player_{name}_set",
            tags=["operator"],
            parameters=LIMIT_PARAMETERS,
            request=LimitSetInput,
            responses=STATE_RESPONSES,
            description=(
                f"{holds} A new or stricter limit is in force at once (and cancels a looser one still waiting); a "
                "looser one waits the cooling-off period (RG_LIMIT_INCREASE_DELAY_SECONDS, 24 hours by default) "
                "and is shown under `pending` until then."
            ),
            examples=[example],
        ),
        delete=extend_schema(
            operation_id=f"player_{name}_remove",
            tags=["operator"],
            parameters=[
                *LIMIT_PARAMETERS,
                OpenApiParameter("reason", str, OpenApiParameter.QUERY, description="Written to the audit log."),
            ],
            request=None,
            responses=STATE_RESPONSES,
            description="The removal waits the cooling-off period, as a looser limit does. `reason` goes in the "
            "query string; a request body that says anything is refused (VALIDATION_ERROR), not dropped unread.",
        ),
    )


@_limit_schema(
    "loss_limit",
    "Debits that would take the net loss (debits less credits and rollbacks) of the period over it are "
    "refused (RG_LIMIT).",
    OpenApiExample("daily limit of 50.00", request_only=True, value={"amount": 5000}),
)
class LossLimitApi(PeriodLimitApi):
    set_limit = staticmethod(player_set_loss_limit)


@_limit_schema(
    "wager_limit",
    "Debits that would take what the period has wagered (bets less those rolled back; wins are not deducted) "
    "over it are refused (RG_LIMIT).",
    OpenApiExample("weekly limit of 500.00", request_only=True, value={"amount": 50000}),
)
class WagerLimitApi(PeriodLimitApi):
    set_limit = staticmethod(player_set_wager_limit)


@_limit_schema(
    "deposit_limit",
    "Cashier deposits that would take the period's deposits over it are refused (RG_LIMIT); withdrawals do "
    "not make room again. It counts only its own currency's deposits, so while the player has a limit of a "
    "period in any currency, deposits in a currency without a limit of that period are refused (RG_LIMIT, "
    "details.deposit_limit_missing) until one is set there too.",
    OpenApiExample("weekly limit of 200.00", request_only=True, value={"amount": 20000}),
)
class DepositLimitApi(PeriodLimitApi):
    set_limit = staticmethod(player_set_deposit_limit)


def _play_time_schema(name: str, holds: str, serializer: type[ReasonInput], example: OpenApiExample) -> Any:
    return extend_schema_view(
        put=extend_schema(
            operation_id=f"player_{name}_set",
            tags=["operator"],
            request=serializer,
            responses=STATE_RESPONSES,
            description=(
                f"{holds} A debit after a session's end is refused (SESSION_EXPIRED); owed credits are still paid. A "
                "new or stricter limit is in force at once and brings forward the end of the sessions already open; "
                "a longer one waits the cooling-off period (RG_LIMIT_INCREASE_DELAY_SECONDS) and is shown under "
                "`pending` until then."
            ),
            examples=[example],
        ),
        delete=extend_schema(
            operation_id=f"player_{name}_remove",
            tags=["operator"],
            parameters=[
                OpenApiParameter("reason", str, OpenApiParameter.QUERY, description="Written to the audit log.")
            ],
            request=None,
            responses=STATE_RESPONSES,
            description="The removal waits the cooling-off period, as a longer limit does. `reason` goes in the "
            "query string; a request body that says anything is refused (VALIDATION_ERROR), not dropped unread.",
        ),
    )


@_play_time_schema(
    "session_time_limit",
    "The longest a game session of the player may last, in minutes, whatever the activity in it: a launch's "
    "`ends_at` is at most that far off.",
    SessionTimeLimitInput,
    OpenApiExample("an hour", request_only=True, value={"minutes": 60, "reason": "player asked"}),
)
class SessionTimeLimitApi(PlayerApiView):
    """The player's session time limit: set (PUT) or removed (DELETE)."""

    input_serializer: type[ReasonInput] = SessionTimeLimitInput
    set_limit: Callable[..., PlayTimeLimit | None] = staticmethod(player_set_session_time_limit)

    def put(self, request: Request, player_id: str) -> Response:
        return self._set(request, player_id, self.input_serializer(data=request.data))

    def delete(self, request: Request, player_id: str) -> Response:
        return self._set(request, player_id, _removal_input(request))

    def _set(self, request: Request, player_id: str, serializer: ReasonInput) -> Response:
        player = player_get(player_id=player_id)
        serializer.is_valid(raise_exception=True)
        self.set_limit(
            player=player,
            minutes=serializer.validated_data.get("minutes"),  # none in a removal
            changed_by=request.user.get_username(),
            reason=serializer.validated_data["reason"],
        )
        return Response(_state(player))


@_play_time_schema(
    "daily_play_time_limit",
    "The most time the player may spend in game sessions in a UTC day, in minutes; sessions open side by side "
    "count once, each from its launch to its close or expiry. A launch's `ends_at` is at most what is left of "
    "today, and a launch with less than a minute left is refused "
    "(RG_LIMIT, `details.daily_play_time_limit.resumes_at`).",
    DailyPlayTimeLimitInput,
    OpenApiExample("two hours", request_only=True, value={"minutes": 120, "reason": "player asked"}),
)
class DailyPlayTimeLimitApi(SessionTimeLimitApi):
    """The player's daily play-time limit: set (PUT) or removed (DELETE)."""

    input_serializer = DailyPlayTimeLimitInput
    set_limit = staticmethod(player_set_daily_play_time_limit)


class RestrictionApi(PlayerApiView):
    """Self-exclusion or time-out: it starts or grows at the player's request, never shrinks."""

    field = ""

    def post(self, request: Request, player_id: str) -> Response:
        player = player_get(player_id=player_id)
        serializer = RestrictionInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        player = player_extend_restriction(
            player=player,
            field=self.field,
            until=serializer.validated_data["until"],
            changed_by=request.user.get_username(),
            reason=serializer.validated_data["reason"],
        )
        return Response(_state(player))


def _restriction_schema(operation_id: str, description: str, example: OpenApiExample) -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id=operation_id,
            tags=["operator"],
            request=RestrictionInput,
            responses=STATE_RESPONSES,
            description=description,
            examples=[example],
        )
    )


@_restriction_schema(
    "player_self_exclude",
    "Debits, launches and cashier deposits are refused (RG_LIMIT) until then, and after it until the player has "
    "asked to play again (POST .../self-exclusion/resume) and the cooling-off has passed, where "
    "RG_SELF_EXCLUSION_RESUME_ON_REQUEST is on (the default); owed credits are still paid and "
    "withdrawals allowed. A new self-exclusion lasts at least RG_SELF_EXCLUSION_MIN_DAYS (the operator's "
    "setting for its regulator; 1 day by default): an earlier `until` is VALIDATION_ERROR naming the minimum. "
    "One in force may be extended by any time.",
    OpenApiExample("six months", request_only=True, value={"until": "2027-06-06T00:00:00Z"}),
)
class SelfExclusionApi(RestrictionApi):
    field = "self_excluded_until"


class SelfExclusionResumeApi(PlayerApiView):
    @extend_schema(
        operation_id="player_self_exclusion_resume",
        tags=["operator"],
        request=ReasonInput,
        responses=STATE_RESPONSES,
        description=(
            "The player asks to play again after their self-exclusion has ended (the UKGC's positive action): "
            "play resumes RG_SELF_EXCLUSION_RESUME_DELAY_HOURS later (24 by default), at "
            "`self_exclusion_resumes_at`, and is refused (RG_LIMIT) until then. Where the operator has "
            "RG_SELF_EXCLUSION_RESUME_ON_REQUEST on (the default), an ended self-exclusion refuses play until this "
            "is called. Safe to repeat: asking again keeps the first request's time, and asking with no "
            "self-exclusion waiting for it changes nothing. One still in force is VALIDATION_ERROR: it ends "
            "at `self_excluded_until`, not earlier."
        ),
        examples=[OpenApiExample("by phone", request_only=True, value={"reason": "player asked by phone"})],
    )
    def post(self, request: Request, player_id: str) -> Response:
        player = player_get(player_id=player_id)
        player = player_self_exclusion_resume(
            player=player, changed_by=request.user.get_username(), reason=_reason_given(request)
        )
        return Response(_state(player))


@_restriction_schema(
    "player_time_out",
    "A short break: debits, launches and cashier deposits are refused (RG_LIMIT) until then; owed credits are "
    "still paid and withdrawals allowed. No minimum.",
    OpenApiExample("a day", request_only=True, value={"until": "2026-12-07T12:00:00Z"}),
)
class TimeOutApi(RestrictionApi):
    field = "timed_out_until"


class PlayerCloseApi(PlayerApiView):
    @extend_schema(
        operation_id="player_close",
        tags=["operator"],
        request=ReasonInput,
        responses={
            200: PlayerOutput,
            **operator_error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND", "PLAYER_BLOCKED"),
        },
        description=(
            "The player closes their account. From then on launches, debits and deposits are refused "
            "(PLAYER_BLOCKED) and the player's game sessions are ended; credits owed are still paid, and the "
            "money left (each wallet's balance, in the answer) may still be withdrawn, KYC permitting. Safe to "
            "repeat. A blocked account cannot be closed this way (PLAYER_BLOCKED): staff decide. Reopening is "
            "for staff, on the player's admin page."
        ),
        examples=[OpenApiExample("closure", request_only=True, value={"reason": "player asked by e-mail"})],
    )
    def post(self, request: Request, player_id: str) -> Response:
        player = player_get(player_id=player_id)
        player = player_close(player=player, changed_by=request.user.get_username(), reason=_reason_given(request))
        return Response(_player(player))
