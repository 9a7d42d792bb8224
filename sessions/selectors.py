"""Reads of game sessions and rounds for the operator API."""

from datetime import datetime
from typing import Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Least
from django.http import Http404

from casino_platform import clock
from casino_platform.validators import bigint_or_none
from players.models import Player
from provider.models import Game, Provider

from .errors import RoundNotFound
from .models import GameSession, Round


def session_get(*, session_id: int) -> GameSession:
    session = GameSession.objects.select_related("player", "game").filter(pk=session_id).first()
    if session is None:
        raise Http404(f"No session {session_id}.")
    return session


def session_state(*, session: GameSession, now: datetime | None = None) -> dict[str, Any]:
    """Where a session stands, as the casino's front end shows it: `open`, `closed` (by the
    casino, by staff, by the player's account closing or block, self-exclusion or time-out, or
    by a country restriction staff saved),
    `expired` (no play for the idle timeout) or `ended` (its end reached: the platform's cap,
    or the player's session time or daily play time limit, which may have brought it forward
    since the launch). `ended_at` is when it stopped taking bets; `seconds_left` the whole
    seconds to its end while open, else 0."""
    now = now or clock.now()
    end = session.absolute_expires_at
    # A stricter limit brings `end` forward without touching the idle expiry, which may then
    # lie past it; whichever comes first stops the session unless it was closed before.
    natural_end, why = (session.expires_at, "expired") if session.expires_at < end else (end, "ended")
    closed_at = session.closed_at
    if closed_at is not None and closed_at < natural_end:
        state, ended_at = "closed", closed_at
    elif natural_end <= now:
        state, ended_at = why, natural_end
    elif closed_at is not None:
        state, ended_at = "closed", closed_at
    else:
        state, ended_at = "open", None
    return {
        "session_id": str(session.pk),
        "player_id": session.player.player_id,
        "game_id": session.game.game_id,
        "currency": session.currency_id,
        "state": state,
        "started_at": session.created_at,
        "last_activity_at": session.last_seen_at,
        "expires_at": session.expires_at,
        "ends_at": end,
        "ended_at": ended_at,
        "seconds_left": int((end - now).total_seconds()) if state == "open" else 0,
    }


SESSION_STATES = ("open", "closed", "expired", "ended")


def sessions_in_state(sessions: QuerySet[GameSession], *, state: str, now: datetime) -> QuerySet[GameSession]:
    """Those of `sessions` that session_state would give `state` at `now`, decided in the
    query by the same rules. Not bounded by the launch time: a cap lowered since leaves
    sessions launched under the longer one open, later than the cap says."""
    sessions = sessions.alias(natural_end=Least("expires_at", "absolute_expires_at"))
    closed = Q(closed_at__isnull=False) & (Q(closed_at__lt=F("natural_end")) | Q(natural_end__gt=now))
    if state == "open":
        return sessions.filter(closed_at__isnull=True, natural_end__gt=now)
    if state == "closed":
        return sessions.filter(closed)
    ran_out = Q(expires_at__lt=F("absolute_expires_at"))  # else its end came first: ended
    return sessions.filter(~closed, natural_end__lte=now).filter(ran_out if state == "expired" else ~ran_out)


def player_sessions(*, player: Player, state: str | None = None, now: datetime | None = None) -> QuerySet[GameSession]:
    """The player's game sessions, newest first (session_player_idx), with their game; only
    those in `state` now when given."""
    sessions = GameSession.objects.filter(player=player).select_related("player", "game")
    if state is not None:
        sessions = sessions_in_state(sessions, state=state, now=now or clock.now())
    return sessions.order_by("-created_at", "-id")


def player_rounds(
    *,
    player: Player,
    currency: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Round]:
    """The player's game rounds, newest first by when each opened (`until` exclusive), each
    with its provider's code and its game's name (None for a game no longer in the catalogue).
    round_player_history holds a player's rounds in that order, so a page reads only its own
    rows however long the history; the filters on currency and status are read off those rows."""
    rounds = Round.objects.filter(player=player)
    if currency is not None:
        rounds = rounds.filter(currency_id=currency)
    if status is not None:
        rounds = rounds.filter(status=status)
    if since is not None:
        rounds = rounds.filter(opened_at__gte=since)
    if until is not None:
        rounds = rounds.filter(opened_at__lt=until)
    game_name = Game.objects.filter(game_id=OuterRef("game_id")).values("name")[:1]
    return rounds.annotate(provider_code=F("provider__code"), game_name=Subquery(game_name)).order_by(
        "-opened_at", "-id"
    )


def rounds_open_since(rounds: QuerySet[Round], *, opened_before: datetime) -> QuerySet[Round]:
    """Those of `rounds` still open that opened before `opened_before`: a provider's round
    whose settlement (a win, a zero credit, a rollback) never came, the player's stake held
    without an outcome. Filtered on the rows read, as the status is: no index holds the open
    rounds, which would cost every round a bet opens one more index entry and every close
    its HOT update. Read along round_player_history for one player, else along the key."""
    return rounds.filter(status=Round.Status.OPEN, opened_at__lt=opened_before)


def round_search(queryset: QuerySet[Round], term: str) -> QuerySet[Round]:
    """Staff's search of the rounds by a round id or a player id, each by its index (as
    ledger.selectors.journal_search does the journal's): the rounds' key is (provider, round
    id), so the search names every provider; a player's rounds by the player's key. The
    plain OR of the two over the joined player read every round."""
    term = term.strip()
    if not term:
        return queryset
    providers = list(Provider.objects.values_list("pk", flat=True))
    players = list(Player.objects.filter(player_id=term).values_list("pk", flat=True))
    return queryset.filter(Q(provider_id__in=providers, round_id=term) | Q(player_id__in=players))


def session_search(queryset: QuerySet[GameSession], term: str) -> QuerySet[GameSession]:
    """Staff's search of the game sessions by a player id or a session number, each by its
    index, as round_search does the rounds': the player's key first, then their sessions by
    session_player_idx. The plain OR of the session's id and the joined player's id read
    every session."""
    term = term.strip()
    if not term:
        return queryset
    players = list(Player.objects.filter(player_id=term).values_list("pk", flat=True))
    match = Q(player_id__in=players)
    if (session_id := bigint_or_none(term)) is not None:
        match |= Q(pk=session_id)
    return queryset.filter(match)


def player_round(*, player: Player, provider_code: str, round_id: str) -> Round:
    """One of the player's rounds, as `player_rounds` gives it; ROUND_NOT_FOUND when the
    provider has no such round, or it is another player's."""
    # No round has ids its columns cannot hold (a NUL, which PostgreSQL's text refuses, or
    # longer than the column): not found, without asking the database.
    held = "\x00" not in provider_code + round_id and len(provider_code) <= 64 and len(round_id) <= 128
    rounds = player_rounds(player=player).filter(provider__code=provider_code, round_id=round_id)
    found = rounds.first() if held else None
    if found is None:
        raise RoundNotFound(f"Player {player.player_id} has no round {round_id!r} of provider {provider_code!r}.")
    return found
