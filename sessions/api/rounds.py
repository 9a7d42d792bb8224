"""A player's game history for the casino's front end: GET /api/v1/players/{player_id}/rounds,
and a round with its movements, GET .../rounds/{provider}/{round_id}."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from casino_platform.openapi import operator_error_responses
from casino_platform.pagination import PAGE_PARAMETERS, TimeCursorPagination
from ledger.selectors import currency_get, round_movements
from players.selectors import player_get
from sessions.models import OperatorApiKey
from sessions.selectors import player_round, player_rounds

from .serializers import RoundDetailOutput, RoundOutput, RoundPageOutput, RoundQuery
from .views import OperatorApiView


class RoundPagination(TimeCursorPagination):
    ordering = ("-opened_at", "-id")


class PlayerRoundsApi(OperatorApiView):
    operator_scope = OperatorApiKey.Scope.PLAYERS

    @extend_schema(
        operation_id="player_rounds",
        tags=["operator"],
        parameters=[RoundQuery, *PAGE_PARAMETERS],
        responses={200: RoundPageOutput, **operator_error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND")},
        description="The player's game rounds, newest first: each round's game, what was wagered and won in it "
        "and whether the provider has closed it, for the player's game history. A round's bets, wins and "
        "rollbacks: GET .../rounds/{provider}/{round_id}.",
    )
    def get(self, request: Request, player_id: str) -> Response:
        player = player_get(player_id=player_id)
        query = RoundQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        currency = query.validated_data.get("currency")
        rounds = player_rounds(
            player=player,
            currency=None if currency is None else currency_get(code=currency, enabled_only=False).code,
            status=query.validated_data.get("status"),
            since=query.validated_data.get("since"),
            until=query.validated_data.get("until"),
        )
        paginator = RoundPagination()
        page = paginator.paginate_queryset(rounds, request, view=self)
        return paginator.get_paginated_response(RoundOutput(page, many=True).data)


class PlayerRoundApi(OperatorApiView):
    operator_scope = OperatorApiKey.Scope.PLAYERS

    @extend_schema(
        operation_id="player_round",
        tags=["operator"],
        responses={200: RoundDetailOutput, **operator_error_responses("PLAYER_NOT_FOUND", "ROUND_NOT_FOUND")},
        description="One of the player's rounds, as the history lists it, with its bets, wins and rollbacks: "
        "what each did to the player's wallet, oldest first. Another player's round is ROUND_NOT_FOUND.",
    )
    def get(self, request: Request, player_id: str, provider: str, round_id: str) -> Response:
        found = player_round(player=player_get(player_id=player_id), provider_code=provider, round_id=round_id)
        movements = round_movements(provider_code=provider, round_id=found.round_id)  # the code it was found by
        return Response(RoundDetailOutput(found, context={"movements": movements}).data)
