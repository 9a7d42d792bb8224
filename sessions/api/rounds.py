"""A player's game history for the casino's front end: GET /api/v1/players/{player_id}/rounds."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from casino_platform.openapi import error_responses
from casino_platform.pagination import PAGE_PARAMETERS, TimeCursorPagination
from ledger.selectors import currency_get
from players.selectors import player_get
from sessions.selectors import player_rounds

from .serializers import RoundOutput, RoundPageOutput, RoundQuery
from .views import OperatorApiView


class RoundPagination(TimeCursorPagination):
    ordering = ("-opened_at", "-id")


class PlayerRoundsApi(OperatorApiView):
    @extend_schema(
        operation_id="player_rounds",
        tags=["operator"],
        parameters=[RoundQuery, *PAGE_PARAMETERS],
        responses={200: RoundPageOutput, **error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND")},
        description="The player's game rounds, newest first: each round's game, what was wagered and won in it "
        "and whether the provider has closed it, for the player's game history. Each bet and win of a round is "
        "in GET .../transactions, with its round_id.",
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
