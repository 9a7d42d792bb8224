"""Reads of game sessions for the operator API."""

from datetime import datetime
from typing import Any

from django.http import Http404

from casino_platform import clock

from .models import GameSession


def session_get(*, session_id: int) -> GameSession:
    session = GameSession.objects.select_related("player", "game").filter(pk=session_id).first()
    if session is None:
        raise Http404(f"No session {session_id}.")
    return session


def session_state(*, session: GameSession, now: datetime | None = None) -> dict[str, Any]:
    """Where a session stands, as the casino's front end shows it: `open`, `closed` (by the
    casino, or by the player's account closing), `expired` (no play for the idle timeout) or
    `ended` (its end reached: the platform's cap, or the player's session time or daily play
    time limit, which may have brought it forward since the launch). `ended_at` is when it
    stopped taking bets; `seconds_left` the whole seconds to its end while open, else 0."""
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
