"""The operator's cashier API: deposits and withdrawals the casino's payment system confirms,
and a wallet's history for the player's statement. `Authorization: Token ...`, JSON only."""

import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from casino_platform import clock
from casino_platform.api import request_trace_id
from casino_platform.errors import ValidationFailed
from casino_platform.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictInput,
    StrictIntegerField,
    StrictQuery,
    period_in_order,
)
from casino_platform.openapi import operator_error_responses
from casino_platform.pagination import LIMIT_PARAMETER, PAGE_PARAMETERS, TimeCursorPagination, page_limit
from casino_platform.parsers import JSONParser
from ledger.models import Entry
from ledger.money import MAX_AMOUNT
from ledger.selectors import currency_get
from players.selectors import player_get
from sessions.api.views import OperatorApiView
from sessions.models import OperatorApiKey
from wallet.models import Withdrawal
from wallet.selectors import (
    player_statement,
    player_withdrawals,
    wallet_movements,
    withdrawal_events_after,
    withdrawal_get,
)
from wallet.services import (
    WalletResult,
    cashier_deposit,
    cashier_withdraw,
    wallet_withdrawal_return,
    withdrawal_cancel,
)
from wallet.services.backoffice import BACKOFFICE_SCOPE
from wallet.services.webhooks import withdrawal_event_message

from .serializers import currency_field, transaction_id_field


class CashierInput(StrictInput):
    currency = currency_field()
    amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, help_text="Minor units of the currency.")
    reference = transaction_id_field(
        help_text="The payment's id in the casino's payment system: money moves once per reference, and a "
        "repeat with the same body answers the first answer again (Idempotent-Replayed: true)."
    )
    reason = StrictCharField(
        max_length=200, required=False, default="through the operator API", help_text="Written to the journal."
    )


class WithdrawalInput(CashierInput):
    review = StrictBooleanField(
        required=False,
        default=False,
        help_text="Hold it for staff to approve whatever its amount (the operator's own risk rules). Above "
        "the currency's review threshold it is held anyway.",
    )


class CashierOutput(serializers.Serializer):
    player_id = serializers.CharField()
    currency = serializers.CharField()
    balance = serializers.IntegerField(help_text="Minor units, after the movement.")
    reference = serializers.CharField()
    platform_transaction_id = serializers.CharField(help_text="The journal transaction's number.")


WITHDRAWAL_STATUS_HELP = (
    "pending: waiting for staff, do not send the payout yet; approved: send it; rejected (by staff) or "
    "cancelled: the money is back in the wallet; returned: the payout failed and the money is back."
)


class WithdrawalOutput(CashierOutput):
    # Not required: a repeat of a withdrawal that no row records (one written by a version
    # before withdrawal review, during its deploy) has no status to answer.
    status = serializers.ChoiceField(
        choices=Withdrawal.Status.choices,
        required=False,
        help_text=f"Where it stands now, on a repeat too. {WITHDRAWAL_STATUS_HELP}",
    )
    platform_transaction_id = serializers.CharField(
        required=False, help_text="The journal transaction of this step (the request, a return, ...)."
    )


class WithdrawalStateOutput(serializers.Serializer):
    reference = serializers.CharField()
    player_id = serializers.CharField(source="wallet.player.player_id")
    currency = serializers.CharField(source="wallet.currency_id")
    amount = serializers.IntegerField(help_text="Minor units.")
    status = serializers.ChoiceField(choices=Withdrawal.Status.choices, help_text=WITHDRAWAL_STATUS_HELP)
    review_reason = serializers.CharField(help_text="Why it waited for staff; empty for one approved at once.")
    requested_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True, help_text="When staff decided or it was cancelled.")
    decision_memo = serializers.CharField(help_text="The reason given with the decision.")


class WithdrawalPageOutput(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null at the first one.")
    previous = serializers.URLField(allow_null=True)
    results = WithdrawalStateOutput(many=True)


class WithdrawalQuery(StrictQuery):
    status = serializers.ChoiceField(
        choices=Withdrawal.Status.choices, required=False, help_text="Only those in this state (pending, ...)."
    )
    currency = currency_field(required=False)


class MovementOutput(serializers.Serializer):
    platform_transaction_id = serializers.CharField(source="transaction_id")
    created_at = serializers.DateTimeField()
    kind = serializers.CharField(source="transaction.kind", help_text="debit, credit, rollback, deposit, ...")
    amount = serializers.IntegerField(help_text="Signed minor units: what it did to the wallet.")
    currency = serializers.CharField(source="currency_id")
    provider = serializers.SerializerMethodField(help_text="The game provider; null for the cashier and staff.")
    transaction_id = serializers.SerializerMethodField(
        help_text="The provider's transaction id, or the cashier's reference."
    )
    round_id = serializers.SerializerMethodField()
    reason = serializers.CharField(source="transaction.reason", help_text="win, bet, refund, deposit, ...")
    reverses = serializers.SerializerMethodField(
        help_text="The journal number this movement cancels: a rollback's bet or win, or the withdrawal whose "
        "money came back (rejected, cancelled or returned)."
    )

    def get_provider(self, entry: Entry) -> str | None:
        code = entry.transaction.provider_code
        return None if code in ("", BACKOFFICE_SCOPE) else code

    def get_transaction_id(self, entry: Entry) -> str | None:
        return entry.transaction.provider_transaction_id or None

    def get_round_id(self, entry: Entry) -> str | None:
        return entry.transaction.round_id or None

    def get_reverses(self, entry: Entry) -> str | None:
        reverses = entry.transaction.reverses_id
        return None if reverses is None else str(reverses)


class MovementPageOutput(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null at the first movement.")
    previous = serializers.URLField(allow_null=True)
    results = MovementOutput(many=True)


class MovementPagination(TimeCursorPagination):
    ordering = ("-created_at", "-id")


class WithdrawalPagination(TimeCursorPagination):
    ordering = ("-requested_at", "-id")


class MovementQuery(StrictQuery):
    currency = currency_field()
    since = serializers.DateTimeField(required=False, help_text="From this time (inclusive).")
    until = serializers.DateTimeField(required=False, help_text="Before this time (exclusive).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return period_in_order(attrs)


class StatementQuery(MovementQuery):
    since = serializers.DateTimeField(
        required=False, help_text="From this time (inclusive), e.g. the player's login; the wallet's start if absent."
    )
    until = serializers.DateTimeField(required=False, help_text="Before this time (exclusive); now if absent.")


class StatementOutput(serializers.Serializer):
    player_id = serializers.CharField()
    currency = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True, help_text="As asked; null: from the wallet's first movement.")
    until = serializers.DateTimeField(help_text="As asked, or the time of the answer.")
    opening_balance = serializers.IntegerField(help_text="Minor units, at `since`.")
    deposited = serializers.IntegerField()
    withdrawn = serializers.IntegerField(help_text="Asked for, gross (those held for review too).")
    returned = serializers.IntegerField(help_text="Withdrawals that came back: rejected, cancelled, failed payouts.")
    adjusted = serializers.IntegerField(help_text="Staff's adjustments, signed.")
    wagered = serializers.IntegerField(help_text="Bets, less those rolled back.")
    won = serializers.IntegerField(help_text="Wins, less those taken back.")
    net = serializers.IntegerField(help_text="won - wagered: the player's result at play (negative: a loss).")
    closing_balance = serializers.IntegerField(
        help_text="At `until`: opening + deposited - withdrawn + returned + adjusted - wagered + won."
    )


def _cashier_answer(result: WalletResult, output: type[serializers.Serializer] = CashierOutput) -> Response:
    body = {**result.as_body(), "reference": result.transaction_id}
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return Response(output(body).data, headers=headers)


CASHIER_PARAMETERS = [
    OpenApiParameter(
        "Idempotent-Replayed", str, OpenApiParameter.HEADER, response=True, description="`true` on a repeat."
    )
]


class CashierApiView(OperatorApiView):
    operator_scope = OperatorApiKey.Scope.CASHIER
    parser_classes = [JSONParser]
    move: Callable[..., WalletResult]
    input: type[CashierInput] = CashierInput
    output: type[serializers.Serializer] = CashierOutput

    def post(self, request: Request, player_id: str) -> Response:
        player = player_get(player_id=player_id)
        serializer = self.input(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Whatever the input adds to the common fields (a withdrawal's `review`) goes along as is.
        data = dict(serializer.validated_data)
        result = self.move(
            player_id=player.player_id,
            operator=request.user.get_username(),
            trace_id=request_trace_id(request),
            **data,
        )
        return _cashier_answer(result, self.output)


def _cashier_schema(
    operation_id: str,
    refusals: tuple[str, ...],
    description: str,
    example: OpenApiExample,
    request: type[serializers.Serializer] = CashierInput,
    response: type[serializers.Serializer] = CashierOutput,
) -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id=operation_id,
            tags=["operator"],
            request=request,
            parameters=CASHIER_PARAMETERS,
            responses={
                200: response,
                **operator_error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND", *refusals, "IDEMPOTENCY_MISMATCH"),
            },
            description=description,
            examples=[example],
        )
    )


@_cashier_schema(
    "player_deposit",
    ("PLAYER_BLOCKED", "RG_LIMIT", "KYC_REQUIRED"),
    "Money the player paid in, once the payment system has it. Refused while the player is blocked "
    "(PLAYER_BLOCKED), self-excluded (or yet to resume play after it) or on a time-out, when it would take "
    "the period's deposits over one of the player's deposit limits (RG_LIMIT; details.deposit_limit names "
    "the period, the limit and what remains), when it is in a currency without a deposit limit of a period "
    "the player has one for in another currency (RG_LIMIT; details.deposit_limit_missing names the "
    "currency, the period and the currencies limited: set a limit in this currency first, as a limit counts "
    "only its own currency's deposits), or, for a player whose identity is not verified, when it would take "
    "their deposits in all over the currency's KYC deposit threshold (KYC_REQUIRED; details.kyc_deposits_above, "
    "deposited, remaining): the payment is then to be returned. "
    "A refusal is final for its reference and is answered again on a repeat.",
    OpenApiExample(
        "card deposit of 25.00", request_only=True, value={"currency": "EUR", "amount": 2500, "reference": "psp-7c1e2a"}
    ),
)
class DepositApi(CashierApiView):
    move = staticmethod(cashier_deposit)


@_cashier_schema(
    "player_withdraw",
    ("PLAYER_BLOCKED", "KYC_REQUIRED", "INSUFFICIENT_FUNDS"),
    "Money leaving for the player's payment method, taken from the wallet at once. `status` says what to "
    "do: `approved`, send the payout; `pending`, it waits for staff (over the currency's review threshold, "
    "or `review: true`): poll GET .../withdrawals/{reference} and send it only once approved. "
    "Allowed while self-excluded or on a time-out; refused for a blocked player (staff can still pay out "
    "in the admin, under a new reference), for a player whose identity is not verified (KYC_REQUIRED, "
    "details.kyc_status; set `kyc_status` with PUT /api/v1/players/{player_id}) and beyond the balance "
    "(INSUFFICIENT_FUNDS). A refusal is final for its reference: ask again under a new one.",
    OpenApiExample(
        "payout of 10.00", request_only=True, value={"currency": "EUR", "amount": 1000, "reference": "po-41"}
    ),
    request=WithdrawalInput,
    response=WithdrawalOutput,
)
@extend_schema_view(
    get=extend_schema(
        operation_id="player_withdrawals",
        tags=["operator"],
        parameters=[
            WithdrawalQuery,
            *PAGE_PARAMETERS,
        ],
        responses={200: WithdrawalPageOutput, **operator_error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND")},
        description="The player's withdrawals, newest first, each as GET .../withdrawals/{reference} shows it: "
        "`?status=pending` lists those the player may still cancel.",
    )
)
class WithdrawalApi(CashierApiView):
    move = staticmethod(cashier_withdraw)
    input = WithdrawalInput
    output = WithdrawalOutput

    def get(self, request: Request, player_id: str) -> Response:
        player = player_get(player_id=player_id)
        query = WithdrawalQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        currency = query.validated_data.get("currency")
        withdrawals = player_withdrawals(
            player=player,
            status=query.validated_data.get("status"),
            currency=currency_get(code=currency, enabled_only=False).code if currency else None,
        )
        paginator = WithdrawalPagination()
        page = paginator.paginate_queryset(withdrawals, request, view=self)
        return paginator.get_paginated_response(WithdrawalStateOutput(page, many=True).data)


REFERENCE_PARAMETER = OpenApiParameter(
    "reference",
    str,
    OpenApiParameter.PATH,
    # What a reference may be (CashierInput's); another is VALIDATION_ERROR, not WITHDRAWAL_NOT_FOUND.
    pattern=r"^[A-Za-z0-9._:-]{1,128}$",
    description="The withdrawal's.",
)


class WithdrawalStateApi(OperatorApiView):
    operator_scope = OperatorApiKey.Scope.CASHIER

    @extend_schema(
        operation_id="player_withdrawal",
        tags=["operator"],
        parameters=[REFERENCE_PARAMETER],
        responses={
            200: WithdrawalStateOutput,
            **operator_error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND", "WITHDRAWAL_NOT_FOUND"),
        },
        description="Where a withdrawal stands: the payment system polls a pending one until staff approve "
        "(send the payout) or reject it (the money is back in the wallet).",
    )
    def get(self, request: Request, player_id: str, reference: str) -> Response:
        player = player_get(player_id=player_id)
        withdrawal = withdrawal_get(reference=reference, player_id=player.player_id)
        return Response(WithdrawalStateOutput(withdrawal).data)


class ReturnInput(StrictInput):
    reason = StrictCharField(
        max_length=200, required=False, default="payout failed", help_text="Written to the journal."
    )


class CancelInput(StrictInput):
    reason = StrictCharField(
        max_length=200, required=False, default="cancelled by the player", help_text="Written to the journal."
    )


def _withdrawal_step_schema(operation_id: str, request: type[serializers.Serializer], description: str) -> Any:
    return extend_schema(
        operation_id=operation_id,
        tags=["operator"],
        parameters=[REFERENCE_PARAMETER, *CASHIER_PARAMETERS],
        request=request,
        responses={
            200: WithdrawalOutput,
            **operator_error_responses(
                "VALIDATION_ERROR", "PLAYER_NOT_FOUND", "WITHDRAWAL_NOT_FOUND", "WITHDRAWAL_NOT_ALLOWED"
            ),
        },
        description=description,
    )


class WithdrawalStepApi(OperatorApiView):
    operator_scope = OperatorApiKey.Scope.CASHIER
    parser_classes = [JSONParser]
    step: Callable[..., WalletResult]
    input: type[serializers.Serializer]

    def post(self, request: Request, player_id: str, reference: str) -> Response:
        player = player_get(player_id=player_id)
        serializer = self.input(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = self.step(
            player_id=player.player_id,
            reference=reference,
            created_by=request.user.get_username(),
            reason=serializer.validated_data["reason"],
            trace_id=request_trace_id(request),
        )
        return _cashier_answer(result, WithdrawalOutput)


@extend_schema_view(
    post=_withdrawal_step_schema(
        "player_withdrawal_return",
        ReturnInput,
        "The payout of an approved withdrawal failed: its money goes back to the wallet, once, whatever the "
        "player's state. A repeat answers the return already made (Idempotent-Replayed: true) with the balance "
        "now. A pending withdrawal is cancelled, not returned (WITHDRAWAL_NOT_ALLOWED, details.status).",
    )
)
class WithdrawalReturnApi(WithdrawalStepApi):
    step = staticmethod(wallet_withdrawal_return)
    input = ReturnInput


@extend_schema_view(
    post=_withdrawal_step_schema(
        "player_withdrawal_cancel",
        CancelInput,
        "The player takes back a withdrawal still waiting for review: its money goes back to the wallet, "
        "once. A repeat answers the cancellation already made (Idempotent-Replayed: true). One already "
        "approved, rejected or returned is WITHDRAWAL_NOT_ALLOWED (details.status says where it stands).",
    )
)
class WithdrawalCancelApi(WithdrawalStepApi):
    step = staticmethod(withdrawal_cancel)
    input = CancelInput


class WalletHistoryApi(OperatorApiView):
    operator_scope = OperatorApiKey.Scope.PLAYERS

    @extend_schema(
        operation_id="player_wallet_history",
        tags=["operator"],
        parameters=[
            MovementQuery,
            *PAGE_PARAMETERS,
        ],
        responses={200: MovementPageOutput, **operator_error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND")},
        description="The wallet's movements in one currency, newest first: bets, wins, rollbacks, deposits, "
        "withdrawals and staff adjustments, each with its signed amount.",
    )
    def get(self, request: Request, player_id: str) -> Response:
        player = player_get(player_id=player_id)
        query = MovementQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        entries = wallet_movements(
            player=player,
            currency=currency_get(code=query.validated_data["currency"], enabled_only=False).code,
            since=query.validated_data.get("since"),
            until=query.validated_data.get("until"),
        )
        paginator = MovementPagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(MovementOutput(page, many=True).data)


class WalletStatementApi(OperatorApiView):
    operator_scope = OperatorApiKey.Scope.PLAYERS

    @extend_schema(
        operation_id="player_wallet_statement",
        tags=["operator"],
        parameters=[StatementQuery],
        responses={200: StatementOutput, **operator_error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND")},
        description="The wallet's statement for a period: its balance at each end and what moved it, by what it "
        "was. For a reality check, `since` is the player's login: `net` is their result at play since, `wagered` "
        "and `won` what it was made of. Without a wallet in that currency, every figure is 0. The balance and "
        "the movements are read in one snapshot, so the figures always add up.",
    )
    def get(self, request: Request, player_id: str) -> Response:
        player = player_get(player_id=player_id)
        query = StatementQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        currency = currency_get(code=query.validated_data["currency"], enabled_only=False).code
        since, until = query.validated_data.get("since"), query.validated_data.get("until")
        # Taken before the read and read up to: a movement stamped after it but committed
        # before the snapshot is the next statement's (which starts here), not in both.
        read_at = clock.now()
        figures = player_statement(player=player, currency=currency, since=since, until=until or read_at)
        body = {"player_id": player.player_id, "currency": currency, "since": since, "until": until or read_at}
        return Response(StatementOutput({**body, **figures}).data)


class WithdrawalEventOutput(serializers.Serializer):
    event_id = serializers.IntegerField()
    type = serializers.CharField(help_text="withdrawal.status_changed")
    created_at = serializers.DateTimeField()
    withdrawal = WithdrawalStateOutput(help_text="The withdrawal as GET .../withdrawals/{reference} gave it then.")


class WithdrawalEventFeedOutput(serializers.Serializer):
    results = WithdrawalEventOutput(many=True)
    after = serializers.CharField(
        help_text="The position after the last event given (the one asked for when none was): keep it, and ask "
        "with it next time."
    )
    next = serializers.URLField(help_text="This request again with the answer's `after`: the events after these.")


FEED_POSITION = re.compile(rb"(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})")


def _feed_position(txid: int, event_id: int) -> str:
    return urlsafe_b64encode(f"{txid}.{event_id}".encode()).decode().rstrip("=")


def _feed_after(given: str | None) -> tuple[int, int] | None:
    """The position `after` names: None from the start (none given, or the empty one an answer
    gives before any event); only a position this API gave out, else a validation error."""
    if not given:
        return None
    try:
        decoded = urlsafe_b64decode(given + "=" * (-len(given) % 4))
    except ValueError:
        decoded = b""
    found = FEED_POSITION.fullmatch(decoded)
    position = (int(found[1]), int(found[2])) if found else None
    if position is None or position[0] >= 2**63 or position[1] >= 2**63 or _feed_position(*position) != given:
        raise ValidationFailed("after is not a position this API gave out.", details={"after": ["invalid"]})
    return position


class WithdrawalEventFeedApi(OperatorApiView):
    operator_scope = OperatorApiKey.Scope.CASHIER

    @extend_schema(
        operation_id="withdrawal_events",
        tags=["operator"],
        parameters=[
            OpenApiParameter(
                "after",
                str,
                OpenApiParameter.QUERY,
                description="`after` of the last answer; from the first without it.",
            ),
            LIMIT_PARAMETER,
        ],
        responses={200: WithdrawalEventFeedOutput, **operator_error_responses("VALIDATION_ERROR")},
        description="The withdrawal events, in the webhook's (CASHIER_WEBHOOK_URL) shape, as a feed to read from "
        "where the reader left off: after an outage of the payment system, to check that none was missed, or "
        "instead of the webhook (events are recorded whether or not it is set). Each event comes once, in an "
        "order to which a later commit never adds in the middle, so asking again with `after` misses none.",
    )
    def get(self, request: Request) -> Response:
        after = _feed_after(request.query_params.get("after"))
        limit = page_limit(request)
        events = withdrawal_events_after(after=after, limit=limit)
        if events:
            after = (events[-1].txid, events[-1].pk)
        position = _feed_position(*after) if after is not None else ""
        query = {"after": position} if position else {}
        if "limit" in request.query_params:
            query["limit"] = str(limit)
        next_url = request.build_absolute_uri(f"{request.path}?{urlencode(query)}" if query else request.path)
        return Response(
            {"results": [withdrawal_event_message(event) for event in events], "after": position, "next": next_url}
        )
