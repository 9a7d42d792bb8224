from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casino_platform import clock
from casino_platform.openapi import operator_error_responses
from casino_platform.pagination import PAGE_PARAMETERS, TimeCursorPagination
from casino_platform.parsers import JSONParser
from casino_platform.renderers import OrjsonRenderer
from players.selectors import player_get
from players.services import player_sessions_close
from provider.errors import GameNotFound
from provider.models import Game
from provider.selectors import game_catalogue
from sessions.models import OperatorApiKey
from sessions.selectors import player_sessions, session_get, session_state
from sessions.services import session_close, session_create, session_launch_url
from wallet.api.serializers import ErrorOutput

from .auth import HasOperatorScope, OperatorApiKeyAuthentication, OperatorKeyRateLimit
from .serializers import (
    GameCatalogueInput,
    GameCatalogueOutput,
    PlayerSessionPageOutput,
    PlayerSessionQuery,
    PlayerSessionsCloseOutput,
    SessionCloseOutput,
    SessionCreateInput,
    SessionCreateOutput,
    SessionStateOutput,
)


class OperatorApiView(APIView):
    authentication_classes = [OperatorApiKeyAuthentication]
    permission_classes = [IsAuthenticated, OperatorKeyRateLimit, HasOperatorScope]
    # JSON bodies only, as every other operator endpoint: a form-encoded launch was read.
    parser_classes = [JSONParser]
    renderer_classes = [OrjsonRenderer]
    operator_scope: str  # an OperatorApiKey.Scope; a view without one is refused to every key


class LobbyApiView(OperatorApiView):
    operator_scope = OperatorApiKey.Scope.LOBBY


class SessionCreateApi(LobbyApiView):
    @extend_schema(
        operation_id="session_create",
        tags=["operator"],
        request=SessionCreateInput,
        responses={
            201: SessionCreateOutput,
            **operator_error_responses(
                "VALIDATION_ERROR", "PLAYER_BLOCKED", "RG_LIMIT", "PLAYER_NOT_FOUND", "GAME_NOT_FOUND", "MAINTENANCE"
            ),
        },
        description="Launch a game for the player in one of their wallets' currencies: a session and its token "
        "for the provider's wallet calls. RG_LIMIT while the player is self-excluded (or yet to resume play "
        "after it), on a time-out or out of daily play time, and while they have a loss or wager limit of a "
        "period in another currency and none in this one (details.loss_limit_missing or "
        "details.wager_limit_missing names the currency, the period and the currencies limited): a limit counts "
        "only its own currency's bets.",
        examples=[
            OpenApiExample(
                "launch",
                request_only=True,
                value={"player_id": "p_demo_1", "game_id": "sandbox:dice", "currency": "EUR", "locale": "en"},
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = SessionCreateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        player = player_get(player_id=data["player_id"])
        game = Game.objects.select_related("provider").filter(game_id=data["game_id"]).first()
        if game is None:
            raise GameNotFound(f"No game {data['game_id']!r}.")
        # One transaction: a launch URL that cannot be made leaves no session open behind it.
        with transaction.atomic():
            session, token = session_create(
                provider=game.provider, player=player, game=game, currency=data["currency"], locale=data["locale"]
            )
            launch_url = session_launch_url(session=session, token=token)
        body = {
            "session_id": str(session.pk),
            "session_token": token,
            "launch_url": launch_url,
            "expires_at": session.expires_at,
            "ends_at": session.absolute_expires_at,
        }
        return Response(SessionCreateOutput(body).data, status=status.HTTP_201_CREATED)


# The session's id is in the path: none such is DRF's 404, which no DomainError stands for.
NO_SUCH_SESSION = OpenApiResponse(ErrorOutput, description="Error codes: NOT_FOUND (no such game session)")


class SessionStateApi(LobbyApiView):
    @extend_schema(
        operation_id="session_state",
        tags=["operator"],
        responses={200: SessionStateOutput, **operator_error_responses(), 404: NO_SUCH_SESSION},
        description="Where a game session stands, for the front end's clock: its state, when it ends whatever "
        "the play (`ends_at`, brought forward by a stricter limit set since the launch) and the seconds left. "
        "404 `NOT_FOUND` for no such session.",
    )
    def get(self, request: Request, session_id: int) -> Response:
        return Response(SessionStateOutput(session_state(session=session_get(session_id=session_id))).data)


class SessionCloseApi(LobbyApiView):
    @extend_schema(
        operation_id="session_close",
        tags=["operator"],
        request=None,
        responses={200: SessionCloseOutput, **operator_error_responses(), 404: NO_SUCH_SESSION},
        description="Closes the game session: the provider's next debit on it is SESSION_EXPIRED; wins owed are "
        "still paid. Safe to repeat (answers the first close's time). 404 `NOT_FOUND` for no such session.",
    )
    def post(self, request: Request, session_id: int) -> Response:
        session = session_close(session=session_get(session_id=session_id))
        return Response(SessionCloseOutput({"session_id": str(session.pk), "closed_at": session.closed_at}).data)


class PlayerSessionsApi(LobbyApiView):
    @extend_schema(
        operation_id="player_sessions",
        tags=["operator"],
        parameters=[PlayerSessionQuery, *PAGE_PARAMETERS],
        responses={200: PlayerSessionPageOutput, **operator_error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND")},
        description="The player's game sessions, newest first, each as GET /api/v1/sessions/{id} gives it; "
        '`?state=open` for those still taking bets (a lobby\'s "resume", or what a logout closes).',
    )
    def get(self, request: Request, player_id: str) -> Response:
        player = player_get(player_id=player_id)
        query = PlayerSessionQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        now = clock.now()
        sessions = player_sessions(player=player, state=query.validated_data.get("state"), now=now)
        paginator = TimeCursorPagination()
        page = paginator.paginate_queryset(sessions, request, view=self)
        states = [session_state(session=session, now=now) for session in page or []]
        return paginator.get_paginated_response(SessionStateOutput(states, many=True).data)


class PlayerSessionsCloseApi(LobbyApiView):
    @extend_schema(
        operation_id="player_sessions_close",
        tags=["operator"],
        request=None,
        responses={200: PlayerSessionsCloseOutput, **operator_error_responses("PLAYER_NOT_FOUND")},
        description="Close every open game session of the player, for the casino's logout or a suspected "
        "account takeover: the provider's next debit on any of them is SESSION_EXPIRED; wins owed are still "
        "paid. Safe to repeat: a second call closes nothing more and answers `closed: 0`.",
    )
    def post(self, request: Request, player_id: str) -> Response:
        player = player_get(player_id=player_id)
        closed = player_sessions_close(player=player)
        return Response(PlayerSessionsCloseOutput({"player_id": player.player_id, "closed": closed}).data)


class GameCatalogueApi(LobbyApiView):
    @extend_schema(
        operation_id="game_catalogue",
        tags=["operator"],
        parameters=[GameCatalogueInput],
        responses={200: GameCatalogueOutput, **operator_error_responses("VALIDATION_ERROR", "PLAYER_NOT_FOUND")},
        description="The enabled games of enabled providers, for the casino's lobby. With `player_id` or "
        "`country`, only those offered there: a game or provider restricted in a country is neither listed "
        "nor launched for its players (`GAME_NOT_FOUND`).",
    )
    def get(self, request: Request) -> Response:
        serializer = GameCatalogueInput(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        country = player_get(player_id=data["player_id"]).country if "player_id" in data else data.get("country")
        games = game_catalogue(country=country)
        return Response(GameCatalogueOutput({"country": country, "games": games}).data)
